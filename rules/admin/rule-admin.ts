import { type ComputedTraitSpec, compileComputedTrait } from '../../domain/rules/computed-traits.ts';
import type { LogicProblem } from '../../domain/rules/json-logic.ts';
import { compileSegmentRule, orderByDependencies, type RuleEnvironment } from '../../domain/rules/segment-rules.ts';
import { compileTriggerRule, conflictsWith } from '../../domain/rules/trigger-rules.ts';
import type { Clock } from '../../lib/clock.ts';
import { err, ok, type Result } from '../../lib/result.ts';
import { compileComputedTraits } from '../../lib/rule-store/active-rules.ts';
import { type KindFields, type RuleKind, type RuleStore, type StoredRule, triggerRuleOf, VersionConflictError } from '../../lib/rule-store/rule-store.ts';

/** What went wrong with a rule change, in terms the API maps to a status code. */
export type AdminError =
  | { readonly kind: 'invalid'; readonly message: string; readonly problems: readonly LogicProblem[] }
  | { readonly kind: 'not_found'; readonly message: string }
  | { readonly kind: 'conflict'; readonly message: string; readonly currentVersion?: number; readonly conflictingRule?: string }
  | { readonly kind: 'unavailable'; readonly message: string };

export interface RuleInput extends KindFields {
  readonly id: string;
  readonly kind: RuleKind;
  readonly name: string;
  readonly description?: string;
  readonly condition: unknown;
  readonly active?: boolean;
}

/** What a valid rule reads, for the validate endpoint. */
export interface ValidationSummary {
  readonly inputs: readonly string[];
  readonly timeDependent: boolean;
}

/** Fields a change may set; kind fields only on the kinds that have them. */
export interface RuleChange extends KindFields {
  readonly name?: string;
  readonly description?: string;
  readonly condition?: unknown;
  /** When given, the change is refused if the rule is no longer at this version. */
  readonly expectedVersion?: number;
}

const notFound = (id: string) => err({ kind: 'not_found' as const, message: `no rule with id "${id}"` });

/**
 * Rule management: every change is checked the way processors will compile it, written
 * as a new version, and audited with who did it and the rule before and after.
 */
export class RuleAdmin {
  readonly #store: RuleStore;
  readonly #clock: Clock;

  constructor(store: RuleStore, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  async #environment(): Promise<Result<RuleEnvironment, AdminError>> {
    const environment = await this.#store.environment();
    if (environment) return ok(environment);
    return err({
      kind: 'unavailable',
      message: 'no processor has started against this Redis yet, so the counters and windows rules may read are unknown; start the processors first',
    });
  }

  /**
   * Checks a rule as processors will compile it. `against` names the segments it may read:
   * every stored segment for a draft, only the active ones (and itself) when it is or becomes active.
   */
  async validate(rule: Omit<RuleInput, 'name'>, against: 'stored' | 'active' = 'stored'): Promise<Result<ValidationSummary, AdminError>> {
    const environment = await this.#environment();
    if (!environment.ok) return environment;
    const rules = await this.#store.list();
    const visible = rules.filter((r) => r.id !== rule.id && (against === 'stored' || r.active));
    if (rule.kind === 'computed_trait') {
      const { problems } = compileComputedTrait(
        { id: rule.id, version: 0, computed: rule.computed as ComputedTraitSpec, condition: rule.condition },
        environment.value,
      );
      if (problems.length > 0)
        return err({ kind: 'invalid', message: `rule ${rule.id} is not valid: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems });
      return ok({ inputs: [], timeDependent: true });
    }
    // Other rules may read the computed traits that exist (active ones, for an active rule).
    const { environment: withComputed } = compileComputedTraits(visible, environment.value);
    const segmentIds = visible.filter((r) => r.kind === 'segment').map((r) => r.id);
    if (rule.kind === 'trigger') return this.#validateTrigger(rule, rules, withComputed, new Set(segmentIds), against);
    const segments = new Set([rule.id, ...segmentIds]);
    const { compiled, problems } = compileSegmentRule({ id: rule.id, version: 0, condition: rule.condition }, withComputed, segments);
    if (!compiled)
      return err({ kind: 'invalid', message: `rule ${rule.id} is not valid: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems });
    if (against === 'active') {
      // Reading segments in a cycle has no answer: name the cycle.
      const others = rules.filter((r) => r.active && r.kind === 'segment' && r.id !== rule.id);
      const compiledOthers = others.flatMap((r) => compileSegmentRule(r, withComputed, segments).compiled ?? []);
      const { cycles } = orderByDependencies([compiled, ...compiledOthers]);
      const cycle = cycles.get(rule.id);
      if (cycle) {
        const message = `segments would read each other in a cycle: ${cycle.join(' -> ')}`;
        return err({ kind: 'invalid', message, problems: [{ path: 'condition', operator: 'in_segment', message }] });
      }
    }
    return ok({ inputs: [...compiled.inputs], timeDependent: compiled.timeDependent });
  }

  /** A trigger's pattern, controls and condition; when active, no other active trigger may target the same segment and business line at the same time. */
  #validateTrigger(
    rule: Omit<RuleInput, 'name'>,
    rules: readonly StoredRule[],
    environment: RuleEnvironment,
    segmentIds: ReadonlySet<string>,
    against: 'stored' | 'active',
  ): Result<ValidationSummary, AdminError> {
    const trigger = triggerRuleOf({ ...(rule as StoredRule), version: 0 });
    if (rule.on === undefined)
      return err({ kind: 'invalid', message: 'a trigger needs "on": what sets it off', problems: [{ path: 'on', message: 'required for triggers' }] });
    const { problems } = compileTriggerRule(trigger, environment, segmentIds);
    if (problems.length > 0)
      return err({ kind: 'invalid', message: `rule ${rule.id} is not valid: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems });
    if (against === 'active') {
      const other = rules.find((r) => r.kind === 'trigger' && r.active && r.id !== rule.id && conflictsWith(trigger, triggerRuleOf(r)));
      if (other)
        return err({
          kind: 'conflict',
          conflictingRule: other.id,
          message: `conflicts with active trigger "${other.id}": same segment, same business line (${trigger.businessLine}) and overlapping schedule`,
        });
    }
    return ok({ inputs: [], timeDependent: false });
  }

  async create(input: RuleInput, actor: string): Promise<Result<StoredRule, AdminError>> {
    if (await this.#store.get(input.id))
      return err({ kind: 'conflict', message: `a rule with id "${input.id}" exists; change it with PUT /rules/${input.id}` });
    const checked = await this.validate(input, input.active ? 'active' : 'stored');
    if (!checked.ok) return checked;
    const rule = {
      ...input,
      description: input.description ?? '',
      active: input.active ?? false,
      ...(input.kind === 'trigger' ? { businessLine: input.businessLine ?? 'default', controls: input.controls ?? {} } : {}),
      updatedAt: this.#clock.now(),
      updatedBy: actor,
    };
    return this.#write(input.id, await this.#store.latestVersion(input.id), rule, actor, 'create', null);
  }

  async update(id: string, change: RuleChange, actor: string): Promise<Result<StoredRule, AdminError>> {
    const current = await this.#store.get(id);
    if (!current) return notFound(id);
    const { expectedVersion: _, ...fields } = change;
    if (current.kind === 'segment') {
      const triggerOnly = (['on', 'businessLine', 'audience', 'schedule', 'controls', 'computed'] as const).filter((f) => fields[f] !== undefined);
      if (triggerOnly.length > 0)
        return err({
          kind: 'invalid',
          message: `${triggerOnly.join(', ')}: not fields of a segment rule`,
          problems: triggerOnly.map((f) => ({ path: f, message: 'does not apply to segment rules' })),
        });
    }
    const next = { ...current, ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) };
    const checked = await this.validate(next, next.active ? 'active' : 'stored');
    if (!checked.ok) return checked;
    return this.#write(id, change.expectedVersion ?? current.version, { ...next, updatedAt: this.#clock.now(), updatedBy: actor }, actor, 'update', current);
  }

  async setActive(id: string, active: boolean, actor: string, expectedVersion?: number): Promise<Result<StoredRule, AdminError>> {
    const current = await this.#store.get(id);
    if (!current) return notFound(id);
    if (current.active === active) return ok(current);
    if (active) {
      const checked = await this.validate(current, 'active');
      if (!checked.ok) return checked;
    } else {
      const dependents = await this.#activeDependents(id);
      if (dependents.length > 0)
        return err({ kind: 'conflict', message: `active rules read "${id}": ${dependents.join(', ')}; deactivate or change them first` });
    }
    const next = { ...current, active, updatedAt: this.#clock.now(), updatedBy: actor };
    return this.#write(id, expectedVersion ?? current.version, next, actor, active ? 'activate' : 'deactivate', current);
  }

  /** Makes an earlier version current again, as a new version (history is never rewritten). */
  async restore(id: string, version: number, actor: string): Promise<Result<StoredRule, AdminError>> {
    const old = (await this.#store.versions(id)).find((v) => v.version === version);
    if (!old) return err({ kind: 'not_found', message: `rule "${id}" has no version ${version}` });
    const current = await this.#store.get(id);
    const checked = await this.validate(old, current?.active ? 'active' : 'stored');
    if (!checked.ok) return checked;
    const next = { ...old, active: current?.active ?? false, updatedAt: this.#clock.now(), updatedBy: actor };
    return this.#write(id, await this.#store.latestVersion(id), next, actor, `restore version ${version}`, current);
  }

  async remove(id: string, actor: string): Promise<Result<null, AdminError>> {
    const current = await this.#store.get(id);
    if (!current) return notFound(id);
    const dependents = await this.#activeDependents(id);
    if (dependents.length > 0) return err({ kind: 'conflict', message: `active rules read "${id}": ${dependents.join(', ')}; change them first` });
    try {
      await this.#store.write(id, current.version, null, { actor, action: 'delete', before: current, at: this.#clock.now() });
      return ok(null);
    } catch (error) {
      return this.#conflict(error);
    }
  }

  /** Active rules that read a segment: segments through in_segment, triggers also through on.segment and audience. */
  async #activeDependents(id: string): Promise<string[]> {
    const environment = await this.#store.environment();
    if (!environment) return [];
    const active = (await this.#store.list()).filter((r) => r.active && r.id !== id);
    const segments = active.filter((r) => r.kind === 'segment');
    const ids = new Set([id, ...segments.map((r) => r.id)]);
    const readsInCondition = (condition: unknown) => {
      const text = JSON.stringify(condition ?? null);
      return text.includes(`"in_segment":"${id}"`) || text.includes(`"in_segment":["${id}"]`) || text.includes(`"computed.${id}"`);
    };
    return active
      .filter((r) =>
        r.kind === 'segment'
          ? compileSegmentRule(r, environment, ids).compiled?.dependsOn.includes(id) || readsInCondition(r.condition)
          : (r.on as { segment?: string } | undefined)?.segment === id || r.audience === id || readsInCondition(r.condition),
      )
      .map((r) => r.id);
  }

  async #write(
    id: string,
    expectedVersion: number,
    rule: Omit<StoredRule, 'version'>,
    actor: string,
    action: string,
    before: StoredRule | null,
  ): Promise<Result<StoredRule, AdminError>> {
    try {
      return ok((await this.#store.write(id, expectedVersion, rule, { actor, action, before, at: this.#clock.now() })) as StoredRule);
    } catch (error) {
      return this.#conflict(error);
    }
  }

  #conflict(error: unknown): Result<never, AdminError> {
    if (error instanceof VersionConflictError) return err({ kind: 'conflict', message: error.message, currentVersion: error.currentVersion });
    throw error;
  }
}
