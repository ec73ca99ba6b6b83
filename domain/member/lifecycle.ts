import { MS_PER_DAY } from '../../lib/clock.ts';
import type { LifecycleStage } from '../../schemas/records.ts';

export interface LifecycleConfig {
  /** A first order this recent makes a member "new". */
  readonly newDays: number;
  /** Orders are compared over this window (and the same length before it). */
  readonly activeDays: number;
  /** Orders in the window that make a member "active". */
  readonly activeMinOrders: number;
  /** No order for more than this many days: "silent". */
  readonly silentAfterDays: number;
  /** No order for more than this many days: "churned". */
  readonly churnedAfterDays: number;
}

export const DEFAULT_LIFECYCLE: LifecycleConfig = { newDays: 30, activeDays: 30, activeMinOrders: 2, silentAfterDays: 30, churnedAfterDays: 60 };

/** What the stage depends on: the paid orders the member made. */
export interface OrderHistory {
  readonly firstOrderAt: number | null;
  /** Times of paid orders recent enough to matter (the last 2 x activeDays, and the latest). */
  readonly recentOrders: readonly number[];
}

export interface StageDecision {
  readonly stage: LifecycleStage;
  readonly reason: string;
}

const inRange = (orders: readonly number[], from: number, to: number) => orders.filter((o) => o > from && o <= to).length;

/**
 * The stage of a member at time `at`, given the stage it had before. Rules, first match:
 * no order ever: prospect; last order over churnedAfterDays ago: churned; over
 * silentAfterDays: silent; otherwise (ordered recently) a silent or churned member is
 * reactivated and stays so until it qualifies as active; a member whose first order is
 * recent and has fewer than activeMinOrders orders is new; fewer orders in the window
 * than in the window before: declining; at least activeMinOrders: active; otherwise the
 * member keeps its stage.
 */
export function lifecycleStageAt(
  history: OrderHistory,
  previous: LifecycleStage | null,
  at: number,
  config: LifecycleConfig = DEFAULT_LIFECYCLE,
): StageDecision {
  const orders = history.recentOrders.filter((o) => o <= at);
  const last = orders.length > 0 ? Math.max(...orders) : null;
  if (history.firstOrderAt === null || history.firstOrderAt > at || last === null) return { stage: 'prospect', reason: 'never_ordered' };
  const sinceLast = at - last;
  if (sinceLast > config.churnedAfterDays * MS_PER_DAY) return { stage: 'churned', reason: `no_order_${config.churnedAfterDays}d` };
  if (sinceLast > config.silentAfterDays * MS_PER_DAY) return { stage: 'silent', reason: `no_order_${config.silentAfterDays}d` };
  const window = config.activeDays * MS_PER_DAY;
  const inWindow = inRange(orders, at - window, at);
  const inWindowBefore = inRange(orders, at - 2 * window, at - window);
  if (previous === 'silent' || previous === 'churned') return { stage: 'reactivated', reason: 'ordered_again' };
  if (previous === 'reactivated' && inWindow < config.activeMinOrders) return { stage: 'reactivated', reason: 'ordered_again' };
  if (history.firstOrderAt > at - config.newDays * MS_PER_DAY && inWindow < config.activeMinOrders) return { stage: 'new', reason: 'first_order' };
  if (inWindow < inWindowBefore) return { stage: 'declining', reason: 'fewer_orders_than_previous_window' };
  if (inWindow >= config.activeMinOrders) return { stage: 'active', reason: `orders_${config.activeDays}d_at_least_${config.activeMinOrders}` };
  return { stage: previous ?? 'new', reason: 'unchanged' };
}

/**
 * When the stage could next change with no new event: an order leaving the current
 * window or the one before, or the silence thresholds passing. Null when nothing can.
 */
export function nextLifecycleCheckAt(history: OrderHistory, at: number, config: LifecycleConfig = DEFAULT_LIFECYCLE): number | null {
  const candidates: number[] = [];
  for (const order of history.recentOrders) {
    for (const days of [config.activeDays, 2 * config.activeDays, config.silentAfterDays, config.churnedAfterDays]) {
      // The stage uses strict "more than N days": it changes 1 ms after the boundary.
      const due = order + days * MS_PER_DAY + 1;
      if (due > at) candidates.push(due);
    }
  }
  return candidates.length > 0 ? Math.min(...candidates) : null;
}

/** Orders that can still influence the stage; the latest is always kept. */
export function trimRecentOrders(orders: readonly number[], at: number, config: LifecycleConfig = DEFAULT_LIFECYCLE): number[] {
  const keepFrom = at - Math.max(2 * config.activeDays, config.churnedAfterDays) * MS_PER_DAY;
  // Runs at every event: when the list is in order and keeps everything, it is returned as it is.
  let inOrder = true;
  let anyOld = false;
  for (let i = 0; i < orders.length; i++) {
    if (i > 0 && (orders[i] as number) < (orders[i - 1] as number)) inOrder = false;
    if ((orders[i] as number) <= keepFrom) anyOld = true;
  }
  if (inOrder && !anyOld) return orders as number[];
  const sorted = [...orders].sort((a, b) => a - b);
  const latest = sorted.at(-1);
  return sorted.filter((o) => o > keepFrom || o === latest);
}
