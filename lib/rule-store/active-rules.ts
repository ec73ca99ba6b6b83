import { type CompiledComputedTrait, type ComputedTraitSpec, compileComputedTrait, typeOfAggregate } from '../../domain/rules/computed-traits.ts';
import { NO_RULES, type RuleSet } from '../../domain/rules/rule-set.ts';
import { type CompiledSegmentRule, compileSegmentRule, orderByDependencies, type RuleEnvironment } from '../../domain/rules/segment-rules.ts';
import { type CompiledTriggerRule, compileTriggerRule } from '../../domain/rules/trigger-rules.ts';
import type { Logger } from '../logger.ts';
import { type RuleStore, type StoredRule, triggerRuleOf } from './rule-store.ts';

/** Compiles the active rules; a rule that does not compile here (e.g. a counter this processor lacks) is left out and named. */
export function compileActiveRules(
  revision: number,
  rules: readonly StoredRule[],
  baseEnvironment: RuleEnvironment,
): { ruleSet: RuleSet; rejected: { id: string; problems: string[] }[] } {
  const rejected: { id: string; problems: string[] }[] = [];
  const { computed, environment } = compileComputedTraits(
    rules.filter((r) => r.active),
    baseEnvironment,
    rejected,
  );
  const active = rules.filter((r) => r.active && r.kind === 'segment');
  const ids = new Set(active.map((r) => r.id));
  const compiled: CompiledSegmentRule[] = [];
  for (const rule of active) {
    const result = compileSegmentRule(rule, environment, ids);
    if (result.compiled) compiled.push(result.compiled);
    else rejected.push({ id: rule.id, problems: result.problems.map((p) => `${p.path}: ${p.message}`) });
  }
  const { ordered, cycles } = orderByDependencies(compiled);
  for (const [id, cycle] of cycles) rejected.push({ id, problems: [`segments read each other in a cycle: ${cycle.join(' -> ')}`] });
  const segmentIds = new Set(ordered.map((r) => r.id));
  const triggers: CompiledTriggerRule[] = [];
  for (const rule of rules.filter((r) => r.active && r.kind === 'trigger')) {
    const result = compileTriggerRule(triggerRuleOf(rule), environment, segmentIds);
    if (result.compiled) triggers.push(result.compiled);
    else rejected.push({ id: rule.id, problems: result.problems.map((p) => `${p.path}: ${p.message}`) });
  }
  return { ruleSet: { revision, segments: ordered, triggers, computed }, rejected };
}

/** Compiles the computed traits among `rules`; the environment it returns lets other rules read them. */
export function compileComputedTraits(
  rules: readonly StoredRule[],
  environment: RuleEnvironment,
  rejected: { id: string; problems: string[] }[] = [],
): { computed: CompiledComputedTrait[]; environment: RuleEnvironment } {
  const computed: CompiledComputedTrait[] = [];
  for (const rule of rules.filter((r) => r.kind === 'computed_trait')) {
    const result = compileComputedTrait(
      { id: rule.id, version: rule.version, computed: rule.computed as ComputedTraitSpec, condition: rule.condition },
      environment,
    );
    if (result.compiled) computed.push(result.compiled);
    else rejected.push({ id: rule.id, problems: result.problems.map((p) => `${p.path}: ${p.message}`) });
  }
  const computedTraits = new Map(environment.computedTraits);
  for (const trait of computed) computedTraits.set(trait.id, typeOfAggregate(trait.spec.aggregate));
  return { computed, environment: { ...environment, computedTraits } };
}

/**
 * The rules a running processor evaluates: reloaded whenever the store's revision moves
 * (polled, so a change applies within one poll interval, without a restart).
 */
export class ActiveRules {
  readonly #store: RuleStore;
  readonly #environment: RuleEnvironment;
  readonly #logger: Logger;
  #current: RuleSet = NO_RULES;
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  readonly #listeners: (() => void)[] = [];

  constructor(store: RuleStore, environment: RuleEnvironment, logger: Logger) {
    this.#store = store;
    this.#environment = environment;
    this.#logger = logger;
  }

  current(): RuleSet {
    return this.#current;
  }

  /** Calls `listener` after every reload that brought a new revision. */
  onReload(listener: () => void): void {
    this.#listeners.push(listener);
  }

  async refresh(): Promise<void> {
    const revision = await this.#store.revision();
    if (revision === this.#current.revision) return;
    const { ruleSet, rejected } = compileActiveRules(revision, await this.#store.list(), this.#environment);
    for (const r of rejected) this.#logger.error({ rule: r.id, problems: r.problems }, 'active rule left out: it does not compile on this processor');
    this.#current = ruleSet;
    this.#logger.info({ revision, segments: ruleSet.segments.length, triggers: ruleSet.triggers.length }, 'rules loaded');
    for (const listener of this.#listeners) listener();
  }

  async start(pollMs: number): Promise<void> {
    await this.#store.registerEnvironment(this.#environment);
    await this.refresh();
    this.#timer = setInterval(() => {
      this.#refreshing ??= this.refresh()
        .catch((error: unknown) =>
          this.#logger.error({ err: error instanceof Error ? error.message : String(error) }, 'rules reload failed; keeping the loaded rules'),
        )
        .finally(() => {
          this.#refreshing = undefined;
        });
    }, pollMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#refreshing;
  }
}
