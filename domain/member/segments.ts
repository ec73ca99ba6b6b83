import { createHash } from 'node:crypto';
import type { SegmentChangeRecord } from '../../schemas/records.ts';
import { type ComputedTraitSpec, computedValue } from '../rules/computed-traits.ts';
import { evaluateSegments } from '../rules/evaluate-segments.ts';
import type { MemberEnv } from '../rules/operators.ts';
import type { RuleSet } from '../rules/rule-set.ts';
import type { MemberState, StateConfig } from './member-state.ts';
import { type RfmConfig, rfmAt } from './rfm.ts';
import { type Bucket, NO_BUCKETS, windowsOf, windowTotals } from './windows.ts';

export interface SegmentSettings {
  readonly state: StateConfig;
  readonly windowsDays: readonly number[];
  readonly rfm: RfmConfig;
}

/** What the context needs of the active computed traits: their definitions, to compute values at a time. */
export type ComputedTraitDefinitions = readonly { readonly id: string; readonly spec: ComputedTraitSpec }[];

export function segmentChangeId(memberId: string, segmentId: string, ruleVersion: number, change: string, at: number): string {
  return createHash('sha256').update(`segment|${memberId}|${segmentId}|${ruleVersion}|${change}|${at}`).digest('hex').slice(0, 32);
}

/**
 * The member as rules read it (docs/rules.md lists the variables). Counter windows are
 * computed only when a rule reads that counter.
 */
export function ruleContext(
  state: MemberState,
  known: boolean,
  at: number,
  settings: SegmentSettings,
  computedTraits: ComputedTraitDefinitions = [],
): { segments: string[] } & Record<string, unknown> {
  const counters: Record<string, Record<string, Bucket>> = {};
  for (const { name } of settings.state.counters) {
    let windows: Record<string, Bucket> | undefined;
    Object.defineProperty(counters, name, {
      enumerable: true,
      get: () => {
        windows ??= windowsOf(state.counters[name] ?? NO_BUCKETS, at, settings.windowsDays);
        return windows;
      },
    });
  }
  const computed: Record<string, unknown> = {};
  for (const { id, spec } of computedTraits)
    Object.defineProperty(computed, id, { enumerable: true, get: () => computedValue(state.computed[id] ?? {}, spec, at) });
  const paid = windowTotals(state.paid, at, settings.rfm.windowDays);
  const rfm = rfmAt(state.orders.lastAt, paid.count, paid.sum, at, settings.rfm);
  const o = state.orders;
  return {
    member_id: state.memberId,
    known,
    traits: state.traits,
    first_seen_at: state.firstSeenAt,
    last_seen_at: state.lastSeenAt,
    counters,
    computed,
    orders: { count: o.count, spend: o.spend, refunds: o.refunds, refunded: o.refunded, first_at: o.firstAt, last_at: o.lastAt },
    rfm: rfm
      ? { recency_days: rfm.recencyDays, frequency: rfm.frequency, monetary: rfm.monetary, r: rfm.r, f: rfm.f, m: rfm.m, group: rfm.group }
      : { recency_days: null, frequency: paid.count, monetary: paid.sum, r: null, f: null, m: null, group: null },
    lifecycle: state.lifecycle ? { stage: state.lifecycle.stage, since: state.lifecycle.since } : { stage: null, since: null },
    segments: [],
  };
}

/** What a rule sees of the member besides its context, for evaluating one rule on its own (explain, dry run). */
export function memberEnv(state: MemberState, at: number): MemberEnv {
  return {
    now: at,
    segments: new Set(Object.keys(state.segments)),
    window: (name, days) => windowTotals(state.counters[name] ?? NO_BUCKETS, at, days),
    noteTime: () => {},
  };
}

/**
 * Re-evaluates the member's segments at `at` (the member's own time line, never the
 * processing clock, so a replay gives the same records), updates its memberships and
 * next segment check, and returns the changes as output records.
 */
export function updateSegments(
  state: MemberState,
  known: boolean,
  rules: RuleSet,
  at: number,
  changed: ReadonlySet<string> | 'all',
  causeEventId: string | null,
  settings: SegmentSettings,
): SegmentChangeRecord[] {
  if (rules.segments.length === 0) {
    state.segmentsCheckAt = null;
    return [];
  }
  const { changes, nextCheckAt } = evaluateSegments({
    rules: rules.segments,
    memberships: state.segments,
    context: () => ruleContext(state, known, at, settings, rules.computed),
    now: at,
    window: memberEnv(state, at).window,
    changed,
    timeMarks: state.orders.lastAt === null ? [] : [state.orders.lastAt],
  });
  state.segmentsCheckAt = nextCheckAt;
  return changes.map((c) => ({
    id: segmentChangeId(state.memberId, c.segmentId, c.ruleVersion, c.change, c.at),
    memberId: state.memberId,
    segmentId: c.segmentId,
    ruleVersion: c.ruleVersion,
    change: c.change,
    at: c.at,
    causeEventId,
    values: JSON.stringify(c.values),
  }));
}

/** Exits of every segment of a member that stops existing (folded into another). */
export function exitAllSegments(state: MemberState, at: number, causeEventId: string | null): SegmentChangeRecord[] {
  const records = Object.entries(state.segments).map(([segmentId, membership]) => ({
    id: segmentChangeId(state.memberId, segmentId, membership.version, 'exited', at),
    memberId: state.memberId,
    segmentId,
    ruleVersion: membership.version,
    change: 'exited' as const,
    at,
    causeEventId,
    values: JSON.stringify({ merged: true }),
  }));
  state.segments = {};
  state.segmentsCheckAt = null;
  return records;
}
