import type { CompiledSegmentRule } from './segment-rules.ts';

/** The active rules a processor evaluates, compiled and in dependency order, and the store revision they came from. */
export interface RuleSet {
  readonly revision: number;
  readonly segments: readonly CompiledSegmentRule[];
}

export const NO_RULES: RuleSet = Object.freeze({ revision: 0, segments: [] });
