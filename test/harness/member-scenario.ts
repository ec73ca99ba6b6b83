import { DEFAULT_COUNTERS, DEFAULT_WINDOWS_DAYS } from '../../domain/member/counters.ts';
import { DEFAULT_LIFECYCLE } from '../../domain/member/lifecycle.ts';
import { emptyMemberState, type MemberState } from '../../domain/member/member-state.ts';
import { type MemberView, memberView } from '../../domain/member/member-view.ts';
import { DEFAULT_RFM } from '../../domain/member/rfm.ts';
import { ruleContext } from '../../domain/member/segments.ts';
import { type MemberInput, type MemberOutputs, noOutputs, type StepContext, stepMember, type WorkingMember } from '../../domain/member/step.ts';
import type { RuleSettings } from '../../domain/member/triggers.ts';
import { type CompiledComputedTrait, type ComputedTraitSpec, compileComputedTrait, typeOfAggregate } from '../../domain/rules/computed-traits.ts';
import { NO_RULES, type RuleSet } from '../../domain/rules/rule-set.ts';
import { type CompiledSegmentRule, compileSegmentRule, orderByDependencies, type RuleEnvironment } from '../../domain/rules/segment-rules.ts';
import { type CompiledTriggerRule, compileTriggerRule, type TriggerControls, type TriggerPattern } from '../../domain/rules/trigger-rules.ts';
import type { ValueType } from '../../domain/rules/variables.ts';
import { ManualClock } from '../../lib/clock.ts';
import type { EventRecord } from '../../schemas/records.ts';
import { testEvent } from './test-event.ts';

/**
 * The settings processors run with by default (the same values as `RULE_SETTINGS` of
 * processor-state.ts, written out here so this harness imports no processor code).
 */
export const SCENARIO_SETTINGS: RuleSettings = {
  state: { counters: DEFAULT_COUNTERS, longestWindowDays: 365, lifecycle: DEFAULT_LIFECYCLE },
  windowsDays: DEFAULT_WINDOWS_DAYS,
  rfm: DEFAULT_RFM,
  triggers: { dailyCap: 3, defaultTimeZone: 'UTC' },
};

/** What rules are checked against on a processor with the default counters and windows. */
export const DEFAULT_RULE_ENVIRONMENT: RuleEnvironment = {
  counters: DEFAULT_COUNTERS.map((c) => c.name),
  windowsDays: DEFAULT_WINDOWS_DAYS,
  computedTraits: new Map(),
};

/**
 * Rules as a scenario writes them, with the defaults of test/harness/active-rules.ts: active,
 * version 1, condition true; `kind` defaults to segment.
 */
export type ScenarioRule =
  | { readonly kind?: 'segment'; readonly id: string; readonly version?: number; readonly condition?: unknown }
  | {
      readonly kind: 'trigger';
      readonly id: string;
      readonly version?: number;
      readonly on: TriggerPattern;
      readonly condition?: unknown;
      readonly businessLine?: string;
      readonly audience?: string;
      readonly schedule?: { readonly from?: number; readonly to?: number };
      readonly controls?: TriggerControls;
    }
  | { readonly kind: 'computed_trait'; readonly id: string; readonly version?: number; readonly computed: ComputedTraitSpec; readonly condition?: unknown };

/**
 * Compiles rules as `compileActiveRules` (lib/rule-store/active-rules.ts) does for the
 * store's listing (sorted by id): computed traits first (other rules may read them),
 * segments in dependency order, then triggers against the segments that compiled. Unlike
 * a processor, which leaves a rule that does not compile out and logs it, this throws: a
 * scenario whose rule is silently missing would test nothing.
 */
export function compileScenarioRules(revision: number, rules: readonly ScenarioRule[], environment: RuleEnvironment = DEFAULT_RULE_ENVIRONMENT): RuleSet {
  const listed = [...rules].sort((a, b) => a.id.localeCompare(b.id));
  const problems: string[] = [];
  const rejected = (id: string, found: readonly { path: string; message: string }[]) => {
    for (const p of found) problems.push(`${id}: ${p.path}: ${p.message}`);
  };
  const computed: CompiledComputedTrait[] = [];
  for (const rule of listed) {
    if (rule.kind !== 'computed_trait') continue;
    const result = compileComputedTrait({ id: rule.id, version: rule.version ?? 1, computed: rule.computed, condition: rule.condition ?? true }, environment);
    if (result.compiled) computed.push(result.compiled);
    else rejected(rule.id, result.problems);
  }
  const computedTraits = new Map<string, ValueType>(environment.computedTraits);
  for (const trait of computed) computedTraits.set(trait.id, typeOfAggregate(trait.spec.aggregate));
  const withComputed = { ...environment, computedTraits };

  const segmentRules = listed.filter((r) => r.kind === undefined || r.kind === 'segment');
  const ids = new Set(segmentRules.map((r) => r.id));
  const segments: CompiledSegmentRule[] = [];
  for (const rule of segmentRules) {
    const result = compileSegmentRule({ id: rule.id, version: rule.version ?? 1, condition: rule.condition ?? true }, withComputed, ids);
    if (result.compiled) segments.push(result.compiled);
    else rejected(rule.id, result.problems);
  }
  const { ordered, cycles } = orderByDependencies(segments);
  for (const [id, cycle] of cycles) problems.push(`${id}: segments read each other in a cycle: ${cycle.join(' -> ')}`);

  const segmentIds = new Set(ordered.map((r) => r.id));
  const triggers: CompiledTriggerRule[] = [];
  for (const rule of listed) {
    if (rule.kind !== 'trigger') continue;
    const result = compileTriggerRule(
      {
        id: rule.id,
        version: rule.version ?? 1,
        on: rule.on,
        condition: rule.condition ?? true,
        businessLine: rule.businessLine ?? 'default',
        audience: rule.audience,
        schedule: rule.schedule,
        controls: rule.controls ?? {},
      },
      withComputed,
      segmentIds,
    );
    if (result.compiled) triggers.push(result.compiled);
    else rejected(rule.id, result.problems);
  }
  if (problems.length > 0) throw new Error(`scenario rules do not compile:\n${problems.join('\n')}`);
  return { revision, segments: ordered, triggers, computed };
}

/** A member the scenario holds, and the member it was folded into (then it takes no more steps). */
interface HeldMember {
  readonly working: WorkingMember;
  mergedInto: string | null;
}

/** The source events are read from, as a processor names it ("topic/partition"). */
const SOURCE = 'segstream.events.v1/0';

/**
 * One member's story (or a few members', by id, for merges) told through the pure member
 * step (`stepMember`, domain/member/step.ts), with no Redis, Kafka or processor code:
 * events are sent at the scenario's manual time, time is moved by hand, and each step
 * returns the outputs it emitted (also readable afterwards as `outputs`,
 * `transitions`, `segmentChanges`, `triggerFirings` and `identityChanges`, until the next step).
 *
 * What the pipeline does around the step is left out on purpose: identity resolution
 * (which member an event belongs to and which members merge is said by the scenario),
 * skipping re-reads and retries, storage and publishing.
 */
export class MemberScenario {
  readonly clock: ManualClock;
  readonly settings: RuleSettings;
  readonly #members = new Map<string, HeldMember>();
  readonly #defaultMember: string;
  #rules: RuleSet = NO_RULES;
  #messages = 0;
  #offset = 0;
  #last: MemberOutputs = noOutputs();

  constructor(options: {
    readonly start: string | number | Date;
    readonly rules?: readonly ScenarioRule[];
    readonly member?: string;
    readonly settings?: RuleSettings;
  }) {
    this.clock = new ManualClock(typeof options.start === 'string' ? new Date(options.start) : options.start);
    this.settings = options.settings ?? SCENARIO_SETTINGS;
    this.#defaultMember = options.member ?? 'member-1';
    if (options.rules) this.rules(options.rules);
  }

  now(): number {
    return this.clock.now();
  }

  /** Makes rules active, as a new revision of the rule store: a member's next event evaluates all its segments. */
  rules(rules: readonly ScenarioRule[] | RuleSet): RuleSet {
    const revision = this.#rules.revision + 1;
    this.#rules = 'revision' in rules ? rules : compileScenarioRules(revision, rules);
    return this.#rules;
  }

  get ruleSet(): RuleSet {
    return this.#rules;
  }

  /** An event record as ingest produces it, at the scenario's time (unless `partial` says otherwise), with the next message id. */
  event(partial: Partial<EventRecord> = {}): EventRecord {
    return testEvent(partial.messageId ?? `msg-${++this.#messages}`, this.now(), partial);
  }

  /** Sends events, in order, to the scenario's member. */
  send(...events: readonly Partial<EventRecord>[]): MemberOutputs {
    return this.sendTo(this.#defaultMember, ...events);
  }

  /** Sends events, in order, to the member `memberId` (made empty on first use), each at the next source offset. */
  sendTo(memberId: string, ...events: readonly Partial<EventRecord>[]): MemberOutputs {
    return this.#step(() => {
      for (const partial of events)
        this.#apply(memberId, { kind: 'event', event: this.event(partial), identities: [], refused: [], position: this.#position(), merged: false });
    });
  }

  /**
   * Sends an event that shows other members to be this one (a sign-up's alias, a login on
   * another device), as the batch processor applies it: each source is absorbed at the
   * event's time, then the event is applied with every segment evaluated again.
   */
  sendMerging(from: readonly string[], partial: Partial<EventRecord>, options: { readonly into?: string } = {}): MemberOutputs {
    const into = options.into ?? this.#defaultMember;
    return this.#step(() => {
      const event = this.event(partial);
      for (const sourceId of from) this.#absorb(into, sourceId, event.timestamp, event.messageId);
      this.#apply(into, { kind: 'event', event, identities: [], refused: [], position: this.#position(), merged: from.length > 0 });
    });
  }

  /** Folds member `sourceId` into the scenario's member (or `into`) now, with no event of its own (an `absorb` input). */
  merge(sourceId: string, options: { readonly into?: string; readonly causeEventId?: string } = {}): MemberOutputs {
    return this.#step(() => this.#absorb(options.into ?? this.#defaultMember, sourceId, this.now(), options.causeEventId ?? `merge-${sourceId}`));
  }

  /**
   * Moves time on by `ms`. Every member's timer fires (a `clock` input) and each check that
   * fell due happens at its own time, as the timer sweep does; with `timers: false` nothing
   * fires, as for a member whose next event comes before any sweep reached it.
   */
  advance(ms: number, options: { readonly timers?: boolean } = {}): MemberOutputs {
    return this.advanceTo(this.now() + ms, options);
  }

  /** Moves time to `time` (never back); see `advance`. */
  advanceTo(time: number | string | Date, options: { readonly timers?: boolean } = {}): MemberOutputs {
    this.clock.set(typeof time === 'string' ? new Date(time) : time);
    return this.#step(() => {
      if (options.timers === false) return;
      for (const [memberId, held] of this.#members) if (held.mergedInto === null) this.#apply(memberId, { kind: 'clock', until: this.now() });
    });
  }

  /** Evaluates every segment of a member now (a rule change's backfill), a `reevaluate` input. */
  reevaluate(memberId: string = this.#defaultMember): MemberOutputs {
    return this.#step(() => this.#apply(memberId, { kind: 'reevaluate', at: this.now(), causeEventId: null }));
  }

  /** Outputs of the last step, across members. */
  get outputs(): MemberOutputs {
    return this.#last;
  }

  get transitions(): MemberOutputs['transitions'] {
    return this.#last.transitions;
  }

  get segmentChanges(): MemberOutputs['segmentChanges'] {
    return this.#last.segmentChanges;
  }

  get triggerFirings(): MemberOutputs['triggerFirings'] {
    return this.#last.triggerFirings;
  }

  get identityChanges(): MemberOutputs['identityChanges'] {
    return this.#last.identityChanges;
  }

  /** The member as the step holds it: state, whether it is known, and every output it emitted so far. */
  member(memberId: string = this.#defaultMember): WorkingMember {
    const held = this.#members.get(memberId);
    if (!held) throw new Error(`no member "${memberId}" in this scenario (members: ${[...this.#members.keys()].join(', ') || 'none'})`);
    return held.working;
  }

  state(memberId: string = this.#defaultMember): MemberState {
    return this.member(memberId).state;
  }

  /** The member as operators see it now (member lookup). */
  view(memberId: string = this.#defaultMember): MemberView {
    return memberView(this.state(memberId), this.now(), this.settings.windowsDays, this.settings.rfm);
  }

  /** The member as rules read it now (counters, computed traits, RFM, lifecycle). */
  context(memberId: string = this.#defaultMember): ReturnType<typeof ruleContext> {
    const member = this.member(memberId);
    return ruleContext(member.state, member.known, this.now(), this.settings, this.#rules.computed);
  }

  /** The member a merged member was folded into, or null. */
  mergedInto(memberId: string): string | null {
    return this.#members.get(memberId)?.mergedInto ?? null;
  }

  #position() {
    return { source: SOURCE, offset: this.#offset++ };
  }

  #context(): StepContext {
    return { rules: this.#rules, settings: this.settings };
  }

  #held(memberId: string): HeldMember {
    let held = this.#members.get(memberId);
    if (!held) {
      held = { working: { state: emptyMemberState(memberId), known: false, outputs: noOutputs() }, mergedInto: null };
      this.#members.set(memberId, held);
    }
    // The pipeline resolves a merged member's identities to the member it went into; a scenario must say so itself.
    if (held.mergedInto !== null) throw new Error(`member "${memberId}" was merged into "${held.mergedInto}"; send to that member`);
    return held;
  }

  #apply(memberId: string, input: MemberInput): void {
    stepMember(this.#held(memberId).working, input, this.#context());
  }

  #absorb(into: string, sourceId: string, at: number, causeEventId: string): void {
    if (into === sourceId) throw new Error(`member "${into}" cannot absorb itself`);
    const target = this.#held(into);
    const source = this.#members.get(sourceId);
    if (!source) throw new Error(`no member "${sourceId}" to merge`);
    // A member merged before absorbs nothing again (foldMember skips it); the step is still taken, as a replay would.
    stepMember(target.working, { kind: 'absorb', source: source.working, at, causeEventId }, this.#context());
    source.mergedInto = into;
  }

  /** Runs one story step and keeps what it emitted, member by member in the order the scenario met them. */
  #step(run: () => void): MemberOutputs {
    const before = new Map([...this.#members].map(([id, held]) => [id, lengths(held.working.outputs)]));
    run();
    const emitted = noOutputs();
    for (const [id, held] of this.#members) {
      const from = before.get(id) ?? [0, 0, 0, 0];
      const outputs = held.working.outputs;
      emitted.transitions.push(...outputs.transitions.slice(from[0]));
      emitted.segmentChanges.push(...outputs.segmentChanges.slice(from[1]));
      emitted.triggerFirings.push(...outputs.triggerFirings.slice(from[2]));
      emitted.identityChanges.push(...outputs.identityChanges.slice(from[3]));
    }
    this.#last = emitted;
    return emitted;
  }
}

function lengths(outputs: MemberOutputs): [number, number, number, number] {
  return [outputs.transitions.length, outputs.segmentChanges.length, outputs.triggerFirings.length, outputs.identityChanges.length];
}
