import type { LifecycleStage } from '../../schemas/records.ts';
import type { MemberState } from './member-state.ts';
import { type Rfm, type RfmConfig, rfmAt } from './rfm.ts';
import { type Bucket, windowTotals } from './windows.ts';

/** A member as operators and rules see it at a moment: counters per window, RFM, lifecycle. */
export interface MemberView {
  readonly memberId: string;
  readonly traits: Record<string, unknown>;
  readonly firstSeenAt: number | null;
  readonly lastSeenAt: number | null;
  /** counters[name][`${days}d`] = { count, sum } */
  readonly counters: Record<string, Record<string, Bucket>>;
  readonly orders: MemberState['orders'];
  readonly rfm: Rfm | null;
  readonly lifecycle: { readonly stage: LifecycleStage; readonly since: number } | null;
  /** Segments the member is in: since when, and the rule version that put it there. */
  readonly segments: readonly { readonly id: string; readonly since: number; readonly ruleVersion: number }[];
}

export function memberView(state: MemberState, at: number, windowsDays: readonly number[], rfm: RfmConfig): MemberView {
  const counters: Record<string, Record<string, Bucket>> = {};
  for (const [name, buckets] of Object.entries(state.counters)) {
    counters[name] = Object.fromEntries(windowsDays.map((days) => [`${days}d`, windowTotals(buckets, at, days)]));
  }
  const paid = windowTotals(state.paid, at, rfm.windowDays);
  return {
    memberId: state.memberId,
    traits: state.traits,
    firstSeenAt: state.firstSeenAt,
    lastSeenAt: state.lastSeenAt,
    counters,
    orders: state.orders,
    rfm: rfmAt(state.orders.lastAt, paid.count, paid.sum, at, rfm),
    lifecycle: state.lifecycle ? { stage: state.lifecycle.stage, since: state.lifecycle.since } : null,
    segments: Object.entries(state.segments)
      .map(([id, m]) => ({ id, since: m.since, ruleVersion: m.version }))
      .sort((a, b) => a.id.localeCompare(b.id)),
  };
}
