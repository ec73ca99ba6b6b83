import { MS_PER_DAY } from '../../lib/clock.ts';
import { compileCondition } from './condition.ts';
import { type LogicProblem, truthy } from './json-logic.ts';
import type { MemberEnv } from './operators.ts';
import type { ValueType } from './variables.ts';

export const AGGREGATES = ['count', 'sum', 'min', 'max', 'first', 'last', 'unique_count'] as const;
export type Aggregate = (typeof AGGREGATES)[number];

/** A computed trait: an aggregate of an event property over a sliding window of days. */
export interface ComputedTraitSpec {
  /** Track event name. */
  readonly event: string;
  /** The property aggregated (not needed for count). */
  readonly property?: string;
  readonly aggregate: Aggregate;
  readonly windowDays: number;
}

export interface ComputedTraitRule {
  readonly id: string;
  readonly version: number;
  readonly computed: ComputedTraitSpec;
  /** Which events count, as JSON-logic over `event.*` (true: all of them). */
  readonly condition?: unknown;
}

export interface CompiledComputedTrait {
  readonly id: string;
  readonly version: number;
  readonly spec: ComputedTraitSpec;
  readonly counts: (event: Record<string, unknown>, env: MemberEnv) => boolean;
}

/** One day of one computed trait for a member. */
export interface DayAggregate {
  n: number;
  s: number;
  mn: number | null;
  mx: number | null;
  /** First and last value of the day, with their event time. */
  f: [number, unknown] | null;
  l: [number, unknown] | null;
  /** Distinct values (as text), at most UNIQUE_LIMIT per day. */
  u: string[];
}

/** Distinct values kept per day; a unique count is exact up to this many distinct values a day. */
export const UNIQUE_LIMIT = 1_000;

export function typeOfAggregate(aggregate: Aggregate): ValueType {
  return aggregate === 'first' || aggregate === 'last' ? 'any' : 'number';
}

export function compileComputedTrait(rule: ComputedTraitRule, environment: { counters: readonly string[]; windowsDays: readonly number[] }) {
  const problems: LogicProblem[] = [];
  const longestWindowDays = Math.max(...environment.windowsDays);
  const spec = rule.computed as Partial<ComputedTraitSpec> | undefined;
  if (!spec || typeof spec !== 'object')
    problems.push({ path: 'computed', message: 'a computed trait needs "computed": {event, property?, aggregate, windowDays}' });
  else {
    if (typeof spec.event !== 'string' || spec.event === '')
      problems.push({ path: 'computed.event', message: 'expected a track event name such as "Order Completed"' });
    if (!AGGREGATES.includes(spec.aggregate as Aggregate))
      problems.push({ path: 'computed.aggregate', message: `expected one of ${AGGREGATES.join(', ')}; received ${JSON.stringify(spec.aggregate)}` });
    else if (spec.aggregate !== 'count' && (typeof spec.property !== 'string' || spec.property === ''))
      problems.push({ path: 'computed.property', message: `"${spec.aggregate}" needs the event property it aggregates` });
    if (typeof spec.windowDays !== 'number' || !Number.isInteger(spec.windowDays) || spec.windowDays < 1 || spec.windowDays > longestWindowDays)
      problems.push({
        path: 'computed.windowDays',
        message: `expected whole days from 1 to ${longestWindowDays}; received ${JSON.stringify(spec.windowDays)}`,
      });
  }
  const condition = rule.condition ?? true;
  // A computed trait's condition reads the event and the member, not other computed traits or segments.
  const { compiled, problems: conditionProblems } = compileCondition(
    condition,
    { ...environment, computedTraits: new Map() },
    { segments: new Set(), event: true },
  );
  problems.push(...conditionProblems);
  if (problems.length > 0) return { problems };
  return {
    compiled: {
      id: rule.id,
      version: rule.version,
      spec: spec as ComputedTraitSpec,
      counts: (event: Record<string, unknown>, env: MemberEnv) => truthy(compiled.evaluate({ event }, env)),
    } satisfies CompiledComputedTrait,
    problems: [],
  };
}

export function emptyDay(): DayAggregate {
  return { n: 0, s: 0, mn: null, mx: null, f: null, l: null, u: [] };
}

/** The aggregate of a day, created empty when missing. */
export function aggregateFor(days: Record<string, DayAggregate>, day: string): DayAggregate {
  let aggregate = days[day];
  if (!aggregate) {
    aggregate = emptyDay();
    days[day] = aggregate;
  }
  return aggregate;
}

/** Adds one event's value (undefined for count-only traits) to a day. */
export function addToDay(day: DayAggregate, at: number, value: unknown): void {
  day.n++;
  if (typeof value === 'number' && Number.isFinite(value)) {
    day.s = Math.round((day.s + value) * 100) / 100;
    day.mn = day.mn === null ? value : Math.min(day.mn, value);
    day.mx = day.mx === null ? value : Math.max(day.mx, value);
  }
  if (value !== undefined && value !== null) {
    if (day.f === null || at < day.f[0]) day.f = [at, value];
    if (day.l === null || at >= day.l[0]) day.l = [at, value];
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    if (day.u.length < UNIQUE_LIMIT && !day.u.includes(text)) day.u.push(text);
  }
}

/** Folds one member's day into another's (merges of identities). */
export function mergeDay(into: DayAggregate, from: DayAggregate): void {
  into.n += from.n;
  into.s = Math.round((into.s + from.s) * 100) / 100;
  if (from.mn !== null) into.mn = into.mn === null ? from.mn : Math.min(into.mn, from.mn);
  if (from.mx !== null) into.mx = into.mx === null ? from.mx : Math.max(into.mx, from.mx);
  if (from.f && (into.f === null || from.f[0] < into.f[0])) into.f = from.f;
  if (from.l && (into.l === null || from.l[0] >= into.l[0])) into.l = from.l;
  for (const u of from.u) if (into.u.length < UNIQUE_LIMIT && !into.u.includes(u)) into.u.push(u);
}

/** The trait's value at `at` over its window: the day of `at` and the windowDays-1 before it. */
export function computedValue(days: Record<string, DayAggregate>, spec: ComputedTraitSpec, at: number): unknown {
  const last = Math.floor(at / MS_PER_DAY);
  let n = 0;
  let s = 0;
  let mn: number | null = null;
  let mx: number | null = null;
  let first: [number, unknown] | null = null;
  let latest: [number, unknown] | null = null;
  const unique = new Set<string>();
  for (const key in days) {
    const age = last - Number(key);
    if (age < 0 || age >= spec.windowDays) continue;
    const d = days[key] as DayAggregate;
    n += d.n;
    s += d.s;
    if (d.mn !== null) mn = mn === null ? d.mn : Math.min(mn, d.mn);
    if (d.mx !== null) mx = mx === null ? d.mx : Math.max(mx, d.mx);
    if (d.f && (first === null || d.f[0] < first[0])) first = d.f;
    if (d.l && (latest === null || d.l[0] >= latest[0])) latest = d.l;
    for (const u of d.u) unique.add(u);
  }
  switch (spec.aggregate) {
    case 'count':
      return n;
    case 'sum':
      return Math.round(s * 100) / 100;
    case 'min':
      return mn;
    case 'max':
      return mx;
    case 'first':
      return first ? first[1] : null;
    case 'last':
      return latest ? latest[1] : null;
    default:
      return unique.size;
  }
}
