import { describe, expect, it } from 'vitest';
import { lifecycleStageAt, nextLifecycleCheckAt, trimRecentOrders } from '../../../domain/member/lifecycle.ts';
import { MS_PER_DAY } from '../../../lib/clock.ts';
import type { LifecycleStage } from '../../../schemas/records.ts';

const day = (n: number) => Date.UTC(2026, 0, 1) + n * MS_PER_DAY;
const history = (orders: number[]) => ({ firstOrderAt: orders.length ? Math.min(...orders) : null, recentOrders: orders });
const stage = (orders: number[], at: number, previous: LifecycleStage | null = null) => lifecycleStageAt(history(orders), previous, at).stage;

describe('lifecycleStageAt (defaults: new 30d, active >= 2 orders in 30d, silent > 30d, churned > 60d)', () => {
  it('walks prospect -> new -> active -> silent -> churned -> reactivated', () => {
    expect(stage([], day(0))).toBe('prospect');
    expect(stage([day(1)], day(1), 'prospect')).toBe('new');
    expect(stage([day(1), day(10)], day(10), 'new')).toBe('active');
    // Day 40 is exactly 30 days after the last order: not yet silent; a moment later it is.
    expect(stage([day(1), day(10)], day(40), 'active')).not.toBe('silent');
    expect(stage([day(1), day(10)], day(40) + 1, 'active')).toBe('silent');
    expect(stage([day(1), day(10)], day(70) + 1, 'silent')).toBe('churned');
    expect(stage([day(1), day(10), day(80)], day(80), 'churned')).toBe('reactivated');
    expect(stage([day(1), day(10), day(80)], day(85), 'reactivated')).toBe('reactivated');
    expect(stage([day(1), day(10), day(80), day(90)], day(90), 'reactivated')).toBe('active');
  });

  it('is declining with fewer orders in the last 30 days than in the 30 before', () => {
    const orders = [day(0), day(2), day(4), day(35)];
    expect(stage(orders, day(35), 'active')).toBe('declining');
    expect(lifecycleStageAt(history(orders), 'active', day(35)).reason).toBe('fewer_orders_than_previous_window');
  });

  it('keeps the stage when no rule applies', () => {
    // One order in each 30-day window: not new any more, not declining, not active.
    expect(stage([day(0), day(40)], day(45), 'new')).toBe('new');
  });

  it('ignores orders after the evaluation time', () => {
    expect(stage([day(10)], day(5))).toBe('prospect');
  });
});

describe('nextLifecycleCheckAt', () => {
  it('is the next moment an order leaves a window or a silence threshold passes', () => {
    expect(nextLifecycleCheckAt(history([day(0)]), day(1))).toBe(day(30) + 1);
    expect(nextLifecycleCheckAt(history([day(0)]), day(30) + 1)).toBe(day(60) + 1);
    expect(nextLifecycleCheckAt(history([day(0)]), day(61))).toBeNull();
    expect(nextLifecycleCheckAt(history([]), day(0))).toBeNull();
  });

  it('trims orders that can no longer matter, keeping the latest', () => {
    expect(trimRecentOrders([day(0), day(50), day(100)], day(100))).toEqual([day(50), day(100)]);
    expect(trimRecentOrders([day(0)], day(400))).toEqual([day(0)]);
    // Late orders come in out of order: sorted, and the latest kept.
    expect(trimRecentOrders([day(100), day(0), day(60)], day(100))).toEqual([day(60), day(100)]);
    expect(trimRecentOrders([day(300), day(0)], day(400))).toEqual([day(300)]);
    // Nothing to drop and in order: the same list, not a copy.
    const recent = [day(60), day(90)];
    expect(trimRecentOrders(recent, day(100))).toBe(recent);
  });
});
