import { createHash } from 'node:crypto';
import { parseJsonObject } from '../../lib/json.ts';
import { isTimeZone, type LocalTime, nextLocalOccurrence } from '../../lib/local-time.ts';
import type { EventRecord, LifecycleTransitionRecord, SegmentChangeRecord, TriggerFiringRecord } from '../../schemas/records.ts';
import { readVariable } from '../rules/evaluate-segments.ts';
import type { RuleSet } from '../rules/rule-set.ts';
import { decideFiring, type PendingTrigger } from '../rules/trigger-controls.ts';
import type { CompiledTriggerRule, TriggerRule } from '../rules/trigger-rules.ts';
import { eventVariables } from './event-view.ts';
import type { MemberState } from './member-state.ts';
import { type ComputedTraitDefinitions, memberEnv, ruleContext, type SegmentSettings } from './segments.ts';

const MINUTE = 60_000;

export interface TriggerSettings {
  /** Most trigger fires per member per local day, across all rules. */
  readonly dailyCap: number;
  /** Time zone of members without a valid `timezone` trait. */
  readonly defaultTimeZone: string;
  /** Traits that opt a member out of marketing when true (DEFAULT_OPT_OUT_TRAITS; any case and spelling, see optedOut). */
  readonly optOutTraits?: readonly string[];
  /** How long (event time) an anonymous member's marketing firing waits for an opt-out on its way (DEFAULT_CONSENT_WAIT_MS; fireOrWaitForConsent). */
  readonly consentWaitMs?: number;
}

/** How long an anonymous member's marketing firing waits for an opt-out by default. */
export const DEFAULT_CONSENT_WAIT_MS = 5_000;

/** Traits that opt a member out of marketing by default. */
export const DEFAULT_OPT_OUT_TRAITS: readonly string[] = ['marketing_opt_out', 'unsubscribed'];

/** Traits by which a member refuses automated personalised marketing (PIPL art. 24), either spelling. */
export const PERSONALIZATION_OPT_OUT_TRAITS: readonly string[] = ['personalization_opt_out', 'personalisation_opt_out'];

/** The trait that opts a member out of one channel: `<channel>_opt_out` (sms_opt_out, smsOptOut ...). */
export const channelOptOutTrait = (channel: string): string => `${channel}_opt_out`;
const channelOptOutTraits = (channel: string | undefined): string[] => (channel === undefined ? [] : [channelOptOutTrait(channel)]);

/** A trait name as compared: case, `_`, `-` and spaces aside (marketing_opt_out = marketingOptOut = Marketing-Opt-Out). */
const foldedName = (name: string) => name.replace(/[\s_-]+/g, '').toLowerCase();

/** The values SDKs and shops send for yes: true, 1, and "true", "yes", "y", "1", "on" in any case. */
export function isYes(value: unknown): boolean {
  if (value === true || value === 1) return true;
  return typeof value === 'string' && ['true', 'yes', 'y', '1', 'on'].includes(value.trim().toLowerCase());
}

export interface RuleSettings extends SegmentSettings {
  readonly triggers: TriggerSettings;
}

/** What happened to a member that trigger rules may react to. */
export interface TriggerInput {
  readonly event: EventRecord | null;
  readonly segmentChanges: readonly SegmentChangeRecord[];
  readonly transitions: readonly LifecycleTransitionRecord[];
  /** The member's time of the happening (event time). */
  readonly at: number;
  /** Trait names the event changed (calendar dates are recomputed when birthday or time zone change). */
  readonly changedTraits: ReadonlySet<string>;
}

export function timeZoneOf(state: MemberState, fallback: string): string {
  const zone = state.traits.timezone;
  return typeof zone === 'string' && isTimeZone(zone) ? zone : fallback;
}

/** Opted out of marketing: one of the opt-out traits (by folded name) says yes. */
export function optedOut(state: MemberState, optOutTraits: readonly string[] = DEFAULT_OPT_OUT_TRAITS): boolean {
  const names = new Set(optOutTraits.map(foldedName));
  for (const [name, value] of Object.entries(state.traits)) if (names.has(foldedName(name)) && isYes(value)) return true;
  return false;
}

/** Coupons received and neither redeemed nor expired at `at`. */
export function outstandingCoupons(state: MemberState, at: number): number {
  return Object.values(state.coupons).filter((expiresAt) => expiresAt === null || expiresAt > at).length;
}

export function triggerFiringId(
  memberId: string,
  ruleId: string,
  version: number,
  outcome: string,
  at: number,
  key: string,
  causeEventId: string | null,
): string {
  // The cause tells apart two events that fire a rule in the same millisecond.
  return createHash('sha256')
    .update(`trigger|${memberId}|${ruleId}|${version}|${outcome}|${at}|${key}|${causeEventId ?? ''}`)
    .digest('hex')
    .slice(0, 32);
}

/** The next calendar moment of a rule for this member, or null (e.g. no birthday trait). */
function nextCalendarAt(rule: TriggerRule, state: MemberState, after: number, timeZone: string): number | null {
  if (!('calendar' in rule.on)) return null;
  const calendar = rule.on.calendar;
  let matches: (date: LocalTime) => boolean;
  if (calendar.kind === 'monthly') matches = (d) => d.day === calendar.day;
  else if (calendar.kind === 'weekly') matches = (d) => d.weekday === calendar.weekday;
  else {
    const birthday = typeof state.traits.birthday === 'string' ? /^(?:\d{4}-)?(\d{2})-(\d{2})$/.exec(state.traits.birthday) : null;
    if (!birthday) return null;
    const [month, day] = [Number(birthday[1]), Number(birthday[2])];
    matches = (d) => d.month === month && d.day === day;
  }
  return nextLocalOccurrence(after, timeZone, calendar.hour, 0, matches);
}

/**
 * Evaluates trigger rules for a member: what starts or cancels a waiting sequence, which
 * rules the event, segment changes and lifecycle transitions set off, their conditions,
 * and each firing's anti-harassment controls. Updates the member's trigger state and
 * returns every outcome (fired, suppressed, held out, deferred) as a record.
 */
export function applyTriggers(state: MemberState, known: boolean, rules: RuleSet, input: TriggerInput, settings: RuleSettings): TriggerFiringRecord[] {
  const triggers = rules.triggers;
  if (triggers.length === 0) {
    // No rules: nothing is waiting either (checked first: this runs for every event).
    if (state.triggers.pending.length > 0) state.triggers.pending = [];
    return [];
  }
  const active = new Set(triggers.map((t) => t.id));
  state.triggers.pending = state.triggers.pending.filter((p) => active.has(p.ruleId));
  const { event, at } = input;
  // Parsed only when a sequence needs its key or a rule goes on to its condition.
  let properties: Record<string, unknown> | undefined;
  const propertiesOf = (e: EventRecord) => {
    properties ??= parseJsonObject(e.properties);
    return properties;
  };
  const timeZone = timeZoneOf(state, settings.triggers.defaultTimeZone);
  const candidates: { rule: CompiledTriggerRule; causeEventId: string | null; key: string }[] = [];
  for (const trigger of triggers) {
    const on = trigger.rule.on;
    if (event && event.type === 'track') {
      if ('event' in on && on.event === event.event) candidates.push({ rule: trigger, causeEventId: event.messageId, key: '' });
      if ('sequence' in on && (event.event === on.sequence.start || event.event === on.sequence.cancel)) {
        const s = on.sequence;
        const key = s.key ? String(propertiesOf(event)[s.key] ?? '') : '';
        if (event.event === s.cancel)
          state.triggers.pending = state.triggers.pending.filter((p) => !(p.ruleId === trigger.id && p.kind === 'sequence' && (!s.key || p.key === key)));
        else if (event.event === s.start) {
          state.triggers.pending = state.triggers.pending.filter((p) => !(p.ruleId === trigger.id && p.kind === 'sequence' && p.key === key));
          state.triggers.pending.push({
            ruleId: trigger.id,
            version: trigger.version,
            kind: 'sequence',
            key,
            dueAt: at + s.withinMinutes * MINUTE,
            causeEventId: event.messageId,
          });
        }
      }
    }
    if ('segment' in on)
      for (const change of input.segmentChanges)
        if (change.segmentId === on.segment && change.change === on.change)
          candidates.push({ rule: trigger, causeEventId: change.causeEventId, key: change.id });
    if ('lifecycle' in on)
      for (const transition of input.transitions)
        if ((on.change === 'exited' ? transition.fromStage : transition.toStage) === on.lifecycle)
          candidates.push({ rule: trigger, causeEventId: transition.causeEventId, key: transition.id });
    if ('calendar' in on) {
      const scheduled = state.triggers.pending.some((p) => p.ruleId === trigger.id && p.kind === 'calendar' && p.version === trigger.version);
      if (!scheduled || input.changedTraits.has('birthday') || input.changedTraits.has('timezone')) {
        state.triggers.pending = state.triggers.pending.filter((p) => !(p.ruleId === trigger.id && p.kind === 'calendar'));
        // Never again before a date it already fired for (a late identify can move the birthday).
        const after = Math.max(at, ...(state.triggers.fires[trigger.id] ?? []));
        const next = nextCalendarAt(trigger.rule, state, after, timeZone);
        if (next !== null)
          state.triggers.pending.push({ ruleId: trigger.id, version: trigger.version, kind: 'calendar', key: '', dueAt: next, causeEventId: null });
      }
    }
  }
  const eventView = event && candidates.length > 0 ? eventVariables(event, propertiesOf(event)) : null;
  return candidates.flatMap(({ rule, causeEventId, key }) =>
    fire(state, known, rule, { at, causeEventId, key, event: eventView, timeZone }, settings, rules.computed),
  );
}

/**
 * Trigger work that fell due by `at` with no event: sequences that timed out, deferred
 * firings, calendar dates, marketing firings of anonymous members that waited for consent.
 */
export function dueTriggers(state: MemberState, known: boolean, rules: RuleSet, at: number, settings: RuleSettings): TriggerFiringRecord[] {
  const due = state.triggers.pending.filter((p) => p.dueAt <= at).sort((a, b) => a.dueAt - b.dueAt);
  if (due.length === 0) return [];
  state.triggers.pending = state.triggers.pending.filter((p) => p.dueAt > at);
  const byId = new Map(rules.triggers.map((t) => [t.id, t]));
  const timeZone = timeZoneOf(state, settings.triggers.defaultTimeZone);
  const records: TriggerFiringRecord[] = [];
  for (const pending of due) {
    const rule = byId.get(pending.ruleId);
    if (!rule) continue;
    const firing = { at: pending.dueAt, causeEventId: pending.causeEventId, key: pending.key, event: null, timeZone };
    if (pending.kind === 'deferred') records.push(...decide(state, rule, { ...firing, afterQuietHours: true }, {}, settings));
    else if (pending.kind === 'consent') records.push(...decide(state, rule, firing, JSON.parse(pending.values ?? '{}'), settings));
    else records.push(...fire(state, known, rule, firing, settings, rules.computed));
    if (pending.kind === 'calendar') {
      const next = nextCalendarAt(rule.rule, state, pending.dueAt, timeZone);
      if (next !== null) state.triggers.pending.push({ ...pending, version: rule.version, dueAt: next });
    }
  }
  return records;
}

interface Firing {
  readonly at: number;
  readonly causeEventId: string | null;
  readonly key: string;
  readonly event: Record<string, unknown> | null;
  readonly timeZone: string;
  readonly afterQuietHours?: boolean;
}

/** A candidate firing: in schedule, its condition holds, then the controls decide. */
function fire(
  state: MemberState,
  known: boolean,
  rule: CompiledTriggerRule,
  firing: Firing,
  settings: RuleSettings,
  computedTraits: ComputedTraitDefinitions,
): TriggerFiringRecord[] {
  const schedule = rule.rule.schedule;
  if ((schedule?.from !== undefined && firing.at < schedule.from) || (schedule?.to !== undefined && firing.at >= schedule.to)) return [];
  const context = ruleContext(state, known, firing.at, settings, computedTraits);
  context.segments = Object.keys(state.segments);
  context.event = firing.event;
  if (!rule.matches(context, memberEnv(state, firing.at))) return [];
  const values = Object.fromEntries(rule.variables.map((name) => [name, readVariable(context, name)]));
  return fireOrWaitForConsent(state, known, rule, firing, values, settings);
}

/**
 * A marketing firing of an anonymous member waits, silently, `consentWaitMs` of event
 * time, then the controls decide it (at the member's next event past then, or on the
 * timer once every partition's event time is past then): the visitor may be a person
 * whose opt-out is in an identify on another partition (keyed by user id) received with
 * this very event. A link across partitions holds its partition's event time back until
 * it is applied, so the timer cannot decide it before; and the identify is applied
 * before an event of the visitor that much later (its partition has applied records
 * received after it by then, or was found caught up). Deciding at a set event time keeps
 * replays identical. A known member's events share one partition (its user id), so its
 * firings go out at once.
 */
function fireOrWaitForConsent(
  state: MemberState,
  known: boolean,
  rule: CompiledTriggerRule,
  firing: Firing,
  values: Record<string, unknown>,
  settings: RuleSettings,
): TriggerFiringRecord[] {
  if (known || !(rule.rule.controls.marketing ?? true)) return decide(state, rule, firing, values, settings);
  state.triggers.pending.push({
    ruleId: rule.id,
    version: rule.version,
    kind: 'consent',
    key: firing.key,
    dueAt: firing.at + (settings.triggers.consentWaitMs ?? DEFAULT_CONSENT_WAIT_MS),
    causeEventId: firing.causeEventId,
    values: JSON.stringify(values),
  } satisfies PendingTrigger);
  return [];
}

function decide(state: MemberState, rule: CompiledTriggerRule, firing: Firing, values: Record<string, unknown>, settings: RuleSettings): TriggerFiringRecord[] {
  const decision = decideFiring(rule.rule, state.triggers, {
    memberId: state.memberId,
    at: firing.at,
    timeZone: firing.timeZone,
    optedOut: optedOut(state, [...(settings.triggers.optOutTraits ?? DEFAULT_OPT_OUT_TRAITS), ...channelOptOutTraits(rule.rule.controls.channel)]),
    refusedPersonalization: optedOut(state, PERSONALIZATION_OPT_OUT_TRAITS),
    outstandingCoupons: outstandingCoupons(state, firing.at),
    dailyCap: settings.triggers.dailyCap,
    afterQuietHours: firing.afterQuietHours,
  });
  if (decision.outcome === 'deferred')
    state.triggers.pending.push({
      ruleId: rule.id,
      version: rule.version,
      kind: 'deferred',
      key: firing.key,
      dueAt: decision.until,
      causeEventId: firing.causeEventId,
    } satisfies PendingTrigger);
  return [
    {
      id: triggerFiringId(state.memberId, rule.id, rule.version, decision.outcome, firing.at, firing.key, firing.causeEventId),
      memberId: state.memberId,
      ruleId: rule.id,
      ruleVersion: rule.version,
      outcome: decision.outcome,
      reason: decision.reason,
      at: firing.at,
      causeEventId: firing.causeEventId,
      businessLine: rule.rule.businessLine,
      values: JSON.stringify(values),
    },
  ];
}
