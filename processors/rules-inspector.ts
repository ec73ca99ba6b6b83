import { memberEnv, ruleContext, type SegmentSettings } from '../domain/member/segments.ts';
import { typeOfAggregate } from '../domain/rules/computed-traits.ts';
import { readVariable } from '../domain/rules/evaluate-segments.ts';
import { type ExplainedPart, explainLogic } from '../domain/rules/explain.ts';
import type { LogicProblem } from '../domain/rules/json-logic.ts';
import { MEMBER_OPERATORS } from '../domain/rules/operators.ts';
import type { RuleSet } from '../domain/rules/rule-set.ts';
import { compileSegmentRule, type RuleEnvironment } from '../domain/rules/segment-rules.ts';
import type { Clock } from '../lib/clock.ts';
import { err, ok, type Result } from '../lib/result.ts';
import type { RuleStore } from '../lib/rule-store/rule-store.ts';
import type { LoadedMember, MemberStore } from './store/member-store.ts';

export type InspectError =
  | { readonly kind: 'not_found'; readonly message: string }
  | { readonly kind: 'invalid'; readonly message: string; readonly problems: readonly LogicProblem[] };

export interface Explanation {
  readonly memberId: string;
  readonly rule: { readonly id: string; readonly version: number };
  readonly at: number;
  /** What the condition gives now. */
  readonly matches: boolean;
  /** Whether the member is in the segment as the processors last decided it. */
  readonly inSegment: boolean;
  readonly condition: ExplainedPart;
}

export interface DryRun {
  readonly scanned: number;
  readonly matched: number;
  /** Whether every member was looked at (false when `limit` stopped the scan). */
  readonly complete: boolean;
  readonly sample: readonly { readonly memberId: string; readonly values: Record<string, unknown> }[];
}

/** Rules against members' current state: why a member is (not) in a segment, and how many would match a draft rule. */
export class RulesInspector {
  readonly #rules: RuleStore;
  readonly #members: MemberStore;
  readonly #environment: RuleEnvironment;
  readonly #settings: SegmentSettings;
  readonly #clock: Clock;
  readonly #ruleSet: () => RuleSet;

  constructor(deps: {
    rules: RuleStore;
    members: MemberStore;
    environment: RuleEnvironment;
    settings: SegmentSettings;
    ruleSet: () => RuleSet;
    clock: Clock;
  }) {
    this.#ruleSet = deps.ruleSet;
    this.#rules = deps.rules;
    this.#members = deps.members;
    this.#environment = deps.environment;
    this.#settings = deps.settings;
    this.#clock = deps.clock;
  }

  async explain(member: LoadedMember, ruleId: string, version?: number): Promise<Result<Explanation, InspectError>> {
    const rule = version === undefined ? await this.#rules.get(ruleId) : (await this.#rules.versions(ruleId)).find((v) => v.version === version);
    if (!rule) return err({ kind: 'not_found', message: version === undefined ? `no rule with id "${ruleId}"` : `rule "${ruleId}" has no version ${version}` });
    const at = this.#clock.now();
    const context = ruleContext(member.state, member.known, at, this.#settings, this.#ruleSet().computed);
    context.segments = Object.keys(member.state.segments);
    const condition = explainLogic(rule.condition, context, memberEnv(member.state, at), MEMBER_OPERATORS);
    return ok({
      memberId: member.state.memberId,
      rule: { id: rule.id, version: rule.version },
      at,
      matches: condition.held,
      inSegment: Object.hasOwn(member.state.segments, rule.id),
      condition,
    });
  }

  /** Evaluates a condition over every member (or the first `limit`), as it would be if it were active now. */
  async dryRun(condition: unknown, options: { sample: number; limit?: number }): Promise<Result<DryRun, InspectError>> {
    const segments = new Set((await this.#rules.list()).filter((r) => r.active).map((r) => r.id));
    const computed = this.#ruleSet().computed;
    const environment = { ...this.#environment, computedTraits: new Map(computed.map((t) => [t.id, typeOfAggregate(t.spec.aggregate)])) };
    const { compiled, problems } = compileSegmentRule({ id: '(dry run)', version: 0, condition }, environment, segments);
    if (!compiled)
      return err({ kind: 'invalid', message: `the condition is not valid: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems });
    const at = this.#clock.now();
    let cursor = '0';
    let scanned = 0;
    let matched = 0;
    const sample: { memberId: string; values: Record<string, unknown> }[] = [];
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    do {
      const page = await this.#members.scanMembers(cursor, 500);
      cursor = page.cursor;
      const loaded = await this.#members.load(page.memberIds.map((memberId) => ({ memberId, messageIds: [] })));
      for (const member of loaded.values()) {
        if (member.mergedInto || member.state.version === 0 || scanned >= limit) continue;
        scanned++;
        const context = ruleContext(member.state, member.known, at, this.#settings, computed);
        context.segments = Object.keys(member.state.segments);
        if (!compiled.matches(context, memberEnv(member.state, at))) continue;
        matched++;
        if (sample.length < options.sample)
          sample.push({ memberId: member.state.memberId, values: Object.fromEntries(compiled.variables.map((v) => [v, readVariable(context, v)])) });
      }
    } while (cursor !== '0' && scanned < limit);
    return ok({ scanned, matched, complete: cursor === '0', sample });
  }
}
