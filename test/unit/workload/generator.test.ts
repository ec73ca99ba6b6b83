import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateWorkload } from '../../workload/generator.ts';
import type { WorkloadEvent } from '../../workload/segment-message.ts';
import { summarize } from '../../workload/summary.ts';

const small = { seed: 7, members: 300, days: 45 };

function fingerprint(events: Iterable<WorkloadEvent>): string {
  const hash = createHash('sha256');
  for (const e of events) hash.update(JSON.stringify(e));
  return hash.digest('hex');
}

describe('generateWorkload', () => {
  const events = [...generateWorkload(small)];
  const props = (e: WorkloadEvent) => e.message.properties ?? {};

  it('is deterministic per seed and differs between seeds', () => {
    expect(fingerprint(generateWorkload(small))).toBe(fingerprint(events));
    expect(fingerprint(generateWorkload({ ...small, seed: 8 }))).not.toBe(fingerprint(events));
  });

  it('emits events in timestamp order within the span (refunds may land after it)', () => {
    const start = Date.UTC(2026, 0, 1);
    for (let i = 1; i < events.length; i++) expect(events[i]?.at).toBeGreaterThanOrEqual(events[i - 1]?.at as number);
    expect(events[0]?.at).toBeGreaterThanOrEqual(start);
    for (const e of events) {
      expect(e.message.timestamp).toBe(new Date(e.at).toISOString());
      if (e.message.event !== 'Order Refunded') expect(e.at).toBeLessThan(start + 45 * 86_400_000);
    }
  });

  it('covers every kind of activity the engine handles', () => {
    const summary = summarize(events);
    expect(Object.keys(summary.byType).sort()).toEqual(['alias', 'group', 'identify', 'page', 'screen', 'track']);
    for (const name of [
      'Product Viewed',
      'Product Added',
      'Signed Up',
      'Logged In',
      'Order Completed',
      'Order Refunded',
      'Coupon Received',
      'Coupon Redeemed',
      'Campaign Clicked',
      'Checkout Started',
    ]) {
      expect(summary.byEvent[name], name).toBeGreaterThan(0);
    }
    expect(summary.identifiedPeople).toBeLessThan(summary.people);
    expect(new Set(events.map((e) => e.message.messageId)).size).toBe(events.length);
  });

  it('keeps order money exact to the cent: total = revenue + shipping + tax, revenue = subtotal - discount', () => {
    const orders = events.filter((e) => e.message.event === 'Order Completed');
    for (const order of orders) {
      const p = props(order) as Record<string, number>;
      const c = (x: unknown) => Math.round(Number(x) * 100);
      expect(c(p.total)).toBe(c(p.revenue) + c(p.shipping) + c(p.tax));
      expect(c(p.revenue)).toBe(c(p.subtotal) - c(p.discount));
      const lines = (props(order).products as { price: number; quantity: number }[]).reduce((s, l) => s + c(l.price) * l.quantity, 0);
      expect(lines).toBe(c(p.subtotal));
    }
    // Heavy tail: the largest order is many times the median.
    const totals = orders.map((o) => Number(props(o).total)).sort((a, b) => a - b);
    expect((totals.at(-1) as number) / (totals[Math.floor(totals.length / 2)] as number)).toBeGreaterThan(5);
  });

  it('is causally consistent: refunds follow their order, redemptions follow receipt, sign-up precedes orders', () => {
    const orderAt = new Map<string, number>();
    const couponAt = new Map<string, number>();
    const signedUpAt = new Map<string, number>();
    for (const e of events) {
      const p = props(e);
      const { message } = e;
      if (message.event === 'Signed Up') signedUpAt.set(message.userId as string, e.at);
      if (message.event === 'Order Completed') {
        expect(signedUpAt.get(message.userId as string)).toBeLessThan(e.at);
        orderAt.set(p.order_id as string, e.at);
      }
      if (message.event === 'Order Refunded') expect(orderAt.get(p.order_id as string)).toBeLessThan(e.at);
      if (message.event === 'Coupon Received') couponAt.set(p.coupon_id as string, e.at);
      if (message.event === 'Coupon Redeemed') expect(couponAt.get(p.coupon_id as string)).toBeLessThan(e.at);
      if (message.type === 'alias') expect(message.previousId).toBeTruthy();
    }
  });

  it('gives every person one time zone and identify traits with birthday and identifiers', () => {
    const zones = new Map<number, string>();
    for (const e of events) {
      const zone = (e.message.context as { timezone: string }).timezone;
      expect(zones.get(e.person) ?? zone).toBe(zone);
      zones.set(e.person, zone);
      if (e.message.type === 'identify') {
        expect(e.message.traits).toMatchObject({
          birthday: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
          email: expect.stringContaining('@'),
          phone: expect.stringMatching(/^\+\d+$/),
        });
      }
    }
    expect(new Set(zones.values()).size).toBeGreaterThan(3);
    expect(events.some((e) => e.message.traits?.wechat_openid)).toBe(true);
    expect(events.some((e) => (e.message.context as { campaign?: unknown }).campaign)).toBe(true);
  });

  it('streams: the first events arrive before the rest are generated', () => {
    const iterator = generateWorkload({ seed: 1, members: 20_000, days: 365 });
    const first = iterator.next();
    expect(first.done).toBe(false);
    iterator.return(undefined);
  });
});
