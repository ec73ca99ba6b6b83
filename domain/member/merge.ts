import type { LifecycleTransitionRecord } from '../../schemas/records.ts';
import { aggregateFor, type DayAggregate, mergeDay } from '../rules/computed-traits.ts';
import { mergeTriggerState } from '../rules/trigger-controls.ts';
import { lifecycleStageAt, nextLifecycleCheckAt, trimRecentOrders } from './lifecycle.ts';
import { advanceTime, lifecycleTransitionId, type MemberState, type StateConfig } from './member-state.ts';
import { addAllBuckets, type DayBuckets, roundMoney } from './windows.ts';

const minOf = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
const maxOf = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));

/**
 * Folds an anonymous member's state into the member it turned out to be, in place, once
 * (a source already in `mergedFrom` is skipped). The target's traits win. Applied offsets
 * keep the higher value per partition: a partition is applied in order, so every record
 * up to either member's offset was applied already (to one of them or to someone else),
 * and a replay after a crash must skip it even when it is older than the message-id
 * horizon.
 */
export function foldMember(target: MemberState, source: MemberState, at: number, config: StateConfig): LifecycleTransitionRecord[] {
  if (target.mergedFrom.includes(source.memberId) || source.memberId === target.memberId) return [];
  target.mergedFrom.push(source.memberId, ...source.mergedFrom.filter((m) => !target.mergedFrom.includes(m)));
  target.traits = { ...source.traits, ...target.traits };
  target.firstSeenAt = minOf(target.firstSeenAt, source.firstSeenAt);
  target.lastSeenAt = maxOf(target.lastSeenAt, source.lastSeenAt);
  for (const [name, buckets] of Object.entries(source.counters)) {
    target.counters[name] ??= [];
    addAllBuckets(target.counters[name] as DayBuckets, buckets);
  }
  addAllBuckets(target.paid, source.paid);
  const t = target.orders;
  const s = source.orders;
  t.count += s.count;
  t.spend = roundMoney(t.spend + s.spend);
  t.refunds += s.refunds;
  t.refunded = roundMoney(t.refunded + s.refunded);
  t.firstAt = minOf(t.firstAt, s.firstAt);
  t.lastAt = maxOf(t.lastAt, s.lastAt);
  t.recent = trimRecentOrders([...t.recent, ...s.recent], at, config.lifecycle);
  for (const [partition, offset] of Object.entries(source.applied)) {
    target.applied[partition] = Math.max(target.applied[partition] ?? offset, offset);
  }
  for (const [trait, days] of Object.entries(source.computed)) {
    target.computed[trait] ??= {};
    const into = target.computed[trait] as Record<string, DayAggregate>;
    for (const [day, aggregate] of Object.entries(days)) mergeDay(aggregateFor(into, day), aggregate);
  }
  for (const [coupon, expiresAt] of Object.entries(source.coupons)) target.coupons[coupon] ??= expiresAt;
  mergeTriggerState(target.triggers, source.triggers);
  for (const identity of source.identities) if (!target.identities.includes(identity)) target.identities.push(identity);

  // Orders of the anonymous past may change the stage.
  const evaluatedAt = Math.max(at, target.lifecycle?.evaluatedAt ?? at);
  const previous = target.lifecycle?.stage ?? null;
  const decision = lifecycleStageAt({ firstOrderAt: t.firstAt, recentOrders: t.recent }, previous, evaluatedAt, config.lifecycle);
  target.nextCheckAt = nextLifecycleCheckAt({ firstOrderAt: t.firstAt, recentOrders: t.recent }, evaluatedAt, config.lifecycle);
  const outputs: LifecycleTransitionRecord[] = [];
  if (decision.stage !== previous) {
    target.lifecycle = { stage: decision.stage, since: evaluatedAt, evaluatedAt };
    outputs.push({
      id: lifecycleTransitionId(target.memberId, previous, decision.stage, evaluatedAt),
      memberId: target.memberId,
      fromStage: previous,
      toStage: decision.stage,
      at: evaluatedAt,
      causeEventId: null,
      reason: 'identities_merged',
    });
  }
  outputs.push(...advanceTime(target, at, config).outputs);
  return outputs;
}
