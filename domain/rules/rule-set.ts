import type { CompiledComputedTrait } from './computed-traits.ts';
import type { CompiledSegmentRule } from './segment-rules.ts';
import type { CompiledTriggerRule } from './trigger-rules.ts';

/** The active rules a processor evaluates, compiled (segments in dependency order), and the store revision they came from. */
export interface RuleSet {
  readonly revision: number;
  readonly segments: readonly CompiledSegmentRule[];
  readonly triggers: readonly CompiledTriggerRule[];
  readonly computed: readonly CompiledComputedTrait[];
}

export const NO_RULES: RuleSet = Object.freeze({ revision: 0, segments: [], triggers: [], computed: [] });
