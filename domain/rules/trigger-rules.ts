import { LIFECYCLE_STAGES } from '../../schemas/records.ts';
import { compileCondition } from './condition.ts';
import { type LogicProblem, truthy } from './json-logic.ts';
import type { MemberEnv } from './operators.ts';
import type { RuleEnvironment } from './segment-rules.ts';

/** What makes a trigger rule look at a member (docs/rules.md). */
export type TriggerPattern =
  | { readonly event: string }
  | { readonly sequence: { readonly start: string; readonly cancel: string; readonly withinMinutes: number; readonly key?: string } }
  | { readonly segment: string; readonly change: 'entered' | 'exited' }
  | { readonly lifecycle: string; readonly change?: 'entered' | 'exited' }
  | { readonly calendar: CalendarPattern };

export type CalendarPattern =
  | { readonly kind: 'birthday'; readonly hour: number }
  | { readonly kind: 'monthly'; readonly day: number; readonly hour: number }
  | { readonly kind: 'weekly'; readonly weekday: number; readonly hour: number };

/** Anti-harassment controls of one trigger rule (the daily cap across rules is the processors' setting). */
export interface TriggerControls {
  readonly cooldownMinutes?: number;
  readonly maxFires?: { readonly count: number; readonly windowDays: number };
  readonly quietHours?: { readonly start: string; readonly end: string; readonly mode: 'defer' | 'drop' };
  readonly maxOutstandingCoupons?: number;
  /** Share of members (0-100) kept as a stable control group: matched, recorded, never fired. */
  readonly holdoutPercent?: number;
  /** Marketing triggers never fire for opted-out members (default true). */
  readonly marketing?: boolean;
  /** The channel the campaign uses (sms, email, push, wechat ...): members opted out of it (`<channel>_opt_out`) are not sent it. */
  readonly channel?: string;
}

export interface TriggerRule {
  readonly id: string;
  readonly version: number;
  readonly on: TriggerPattern;
  readonly condition?: unknown;
  readonly businessLine: string;
  /** The segment the campaign targets, for conflict checks; a segment pattern's own segment when absent. */
  readonly audience?: string;
  readonly schedule?: { readonly from?: number; readonly to?: number };
  readonly controls: TriggerControls;
}

export interface CompiledTriggerRule {
  readonly rule: TriggerRule;
  readonly id: string;
  readonly version: number;
  readonly matches: (context: unknown, env: MemberEnv) => boolean;
  readonly variables: readonly string[];
}

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

/** Checks a trigger rule's pattern, controls and condition; problems name the path. */
export function compileTriggerRule(
  rule: TriggerRule,
  environment: RuleEnvironment,
  segmentIds: ReadonlySet<string>,
): { compiled?: CompiledTriggerRule; problems: readonly LogicProblem[] } {
  const problems: LogicProblem[] = [];
  const problem = (path: string, message: string) => problems.push({ path, message });
  const on = rule.on as Record<string, unknown>;
  const keys = Object.keys(on ?? {});
  const kind = keys.find((k) => ['event', 'sequence', 'segment', 'lifecycle', 'calendar'].includes(k));
  if (!kind) problem('on', `a trigger needs one of on.event, on.sequence, on.segment, on.lifecycle, on.calendar; received ${JSON.stringify(rule.on)}`);
  if (kind === 'event' && (typeof on.event !== 'string' || on.event === '')) problem('on.event', 'expected a track event name such as "Order Completed"');
  if (kind === 'sequence') {
    const s = on.sequence as Record<string, unknown>;
    if (typeof s?.start !== 'string' || s.start === '') problem('on.sequence.start', 'expected the event that starts the wait, e.g. "Product Added"');
    if (typeof s?.cancel !== 'string' || s.cancel === '') problem('on.sequence.cancel', 'expected the event that cancels it, e.g. "Order Completed"');
    if (typeof s?.withinMinutes !== 'number' || !Number.isInteger(s.withinMinutes) || s.withinMinutes < 1 || s.withinMinutes > 60 * 24 * 90)
      problem('on.sequence.withinMinutes', `expected whole minutes from 1 to 129600; received ${JSON.stringify(s?.withinMinutes)}`);
    if (s?.key !== undefined && (typeof s.key !== 'string' || s.key === ''))
      problem('on.sequence.key', 'expected the property that keys the wait (e.g. "cart_id")');
  }
  if (kind === 'segment') {
    if (typeof on.segment !== 'string' || !segmentIds.has(on.segment))
      problem('on.segment', `unknown segment ${JSON.stringify(on.segment)}; known segments: ${[...segmentIds].join(', ') || '(none)'}`);
    if (on.change !== 'entered' && on.change !== 'exited') problem('on.change', `expected "entered" or "exited"; received ${JSON.stringify(on.change)}`);
  }
  if (kind === 'lifecycle' && !(LIFECYCLE_STAGES as readonly string[]).includes(on.lifecycle as string))
    problem('on.lifecycle', `expected a lifecycle stage (${LIFECYCLE_STAGES.join(', ')}); received ${JSON.stringify(on.lifecycle)}`);
  if (kind === 'lifecycle' && on.change !== undefined && on.change !== 'entered' && on.change !== 'exited')
    problem('on.change', `expected "entered" (the default) or "exited"; received ${JSON.stringify(on.change)}`);
  if (kind === 'calendar') {
    const c = on.calendar as Record<string, unknown>;
    const hourOk = typeof c?.hour === 'number' && Number.isInteger(c.hour) && c.hour >= 0 && c.hour <= 23;
    if (!hourOk) problem('on.calendar.hour', `expected an hour of the member's day, 0-23; received ${JSON.stringify(c?.hour)}`);
    if (c?.kind === 'monthly' && !(typeof c.day === 'number' && Number.isInteger(c.day) && c.day >= 1 && c.day <= 28))
      problem('on.calendar.day', `expected a day of the month 1-28 (every month has it); received ${JSON.stringify(c.day)}`);
    else if (c?.kind === 'weekly' && !(typeof c.weekday === 'number' && Number.isInteger(c.weekday) && c.weekday >= 0 && c.weekday <= 6))
      problem('on.calendar.weekday', `expected 0 (Sunday) to 6 (Saturday); received ${JSON.stringify(c.weekday)}`);
    else if (!['birthday', 'monthly', 'weekly'].includes(c?.kind as string))
      problem('on.calendar.kind', `expected "birthday", "monthly" or "weekly"; received ${JSON.stringify(c?.kind)}`);
  }
  const controls = rule.controls ?? {};
  if (controls.quietHours) {
    if (!HHMM.test(controls.quietHours.start)) problem('controls.quietHours.start', `expected HH:MM; received ${JSON.stringify(controls.quietHours.start)}`);
    if (!HHMM.test(controls.quietHours.end)) problem('controls.quietHours.end', `expected HH:MM; received ${JSON.stringify(controls.quietHours.end)}`);
  }
  if (rule.audience !== undefined && !segmentIds.has(rule.audience))
    problem('audience', `unknown segment ${JSON.stringify(rule.audience)}; known segments: ${[...segmentIds].join(', ') || '(none)'}`);
  if (rule.schedule?.from !== undefined && rule.schedule.to !== undefined && rule.schedule.from >= rule.schedule.to)
    problem('schedule', 'schedule.from must be before schedule.to');

  const condition = rule.condition ?? true;
  const { compiled, problems: conditionProblems } = compileCondition(condition, environment, { segments: segmentIds, event: true });
  problems.push(...conditionProblems);
  if (problems.length > 0) return { problems };
  const evaluate = compiled.evaluate;
  return {
    compiled: {
      rule,
      id: rule.id,
      version: rule.version,
      matches: (context, env) => truthy(evaluate(context, env)),
      variables: [...new Set(compiled.variables.filter((v) => !v.scoped && v.name !== '').map((v) => v.name))],
    },
    problems: [],
  };
}

/** The segment a trigger targets (for conflicts): its audience, or the segment it listens to. */
export function audienceOf(rule: Pick<TriggerRule, 'on' | 'audience'>): string | null {
  if (rule.audience) return rule.audience;
  return 'segment' in rule.on ? rule.on.segment : null;
}

/** Two trigger rules conflict when they target the same segment for the same business line at overlapping times. */
export function conflictsWith(
  a: Pick<TriggerRule, 'on' | 'audience' | 'businessLine' | 'schedule'>,
  b: Pick<TriggerRule, 'on' | 'audience' | 'businessLine' | 'schedule'>,
): boolean {
  const segment = audienceOf(a);
  if (segment === null || segment !== audienceOf(b) || a.businessLine !== b.businessLine) return false;
  const aFrom = a.schedule?.from ?? Number.NEGATIVE_INFINITY;
  const aTo = a.schedule?.to ?? Number.POSITIVE_INFINITY;
  const bFrom = b.schedule?.from ?? Number.NEGATIVE_INFINITY;
  const bTo = b.schedule?.to ?? Number.POSITIVE_INFINITY;
  return aFrom < bTo && bFrom < aTo;
}
