import type { EventRecord, MessageType } from '../../schemas/records.ts';
import { orderAmount } from './order-amount.ts';

/**
 * A windowed counter: which events it counts, and optionally what it sums
 * and a property condition (e.g. orders over 100 with `where: { property: 'total', op: 'gte', value: 100 }`).
 */
export interface CounterSpec {
  readonly name: string;
  /** Track event name; when absent, `types` decides. */
  readonly event?: string;
  readonly types?: readonly MessageType[];
  /** What it sums: nothing (it only counts), a numeric property, or an order's amount (`orderAmount`, as spend and RFM). */
  readonly sum?: { readonly property: string } | 'order-amount';
  readonly where?: { readonly property: string; readonly op: 'eq' | 'gte' | 'lte'; readonly value: string | number | boolean };
}

export const DEFAULT_COUNTERS: readonly CounterSpec[] = [
  { name: 'events' },
  { name: 'page_views', types: ['page', 'screen'] },
  { name: 'product_views', event: 'Product Viewed' },
  { name: 'cart_adds', event: 'Product Added' },
  { name: 'checkouts', event: 'Checkout Started' },
  { name: 'orders', event: 'Order Completed', sum: 'order-amount' },
  { name: 'refunds', event: 'Order Refunded', sum: 'order-amount' },
  { name: 'coupons_received', event: 'Coupon Received' },
  { name: 'coupons_redeemed', event: 'Coupon Redeemed' },
  { name: 'campaign_clicks', event: 'Campaign Clicked' },
];

export const DEFAULT_WINDOWS_DAYS: readonly number[] = [1, 7, 30, 90, 365];

/**
 * The amount a counter adds for an event (0 when it only counts), or undefined when it
 * does not count it. Properties are asked for only when the counter needs them (most
 * events are counted by type or name alone, and parsing their properties is not free).
 */
export function counterAmount(spec: CounterSpec, event: EventRecord, properties: () => Record<string, unknown>): number | undefined {
  if (spec.event !== undefined && (event.type !== 'track' || event.event !== spec.event)) return undefined;
  if (spec.types !== undefined && !spec.types.includes(event.type)) return undefined;
  if (spec.where) {
    const actual = properties()[spec.where.property];
    const { op, value } = spec.where;
    const holds =
      op === 'eq' ? actual === value : typeof actual === 'number' && typeof value === 'number' && (op === 'gte' ? actual >= value : actual <= value);
    if (!holds) return undefined;
  }
  if (spec.sum === undefined) return 0;
  const amount = spec.sum === 'order-amount' ? orderAmount(properties()) : properties()[spec.sum.property];
  return typeof amount === 'number' && Number.isFinite(amount) ? amount : 0;
}
