import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventRow } from '../../history/history-writer.ts';
import { HISTORY_MIGRATIONS } from '../../history/migrations.ts';
import { applyMigrations, createdBy } from '../../lib/warehouse/migrations.ts';
import type { Warehouse } from '../../lib/warehouse/warehouse.ts';
import { historyWarehouse } from '../harness/history-warehouse.ts';
import { testEvent } from '../harness/test-event.ts';

/* The orders table: filled from the events already stored when its migration runs, then from every events insert; replays add no rows. */

const AT = Date.UTC(2026, 3, 1, 8);
const paid = testEvent('msg-paid', AT, {
  userId: 'u1',
  event: 'Order Completed',
  properties: JSON.stringify({ order_id: 'o-1', total: 75.5, discount: 12.5, coupon: 'SAVE12', currency: 'CNY', products: [{ sku: 'a' }, { sku: 'b' }] }),
});
const refund = testEvent('msg-refund', AT + 3_600_000, {
  userId: 'u1',
  event: 'Order Refunded',
  properties: JSON.stringify({ order_id: 'o-1', total: 20, currency: 'CNY' }),
});
const view = testEvent('msg-view', AT, { userId: 'u1', event: 'Product Viewed', properties: '{"sku":"a"}' });
const later = testEvent('msg-later', AT + 86_400_000, {
  userId: 'u2',
  event: 'Order Completed',
  properties: JSON.stringify({ order_id: 'o-2', revenue: 0.29, discount: 'n/a' }),
});

let warehouse: Warehouse;
beforeAll(async () => {
  warehouse = await historyWarehouse(
    'orders',
    HISTORY_MIGRATIONS.filter((m) => m.version < 4),
  );
}, 60_000);
afterAll(() => warehouse.close());

const orders = () =>
  warehouse.query(
    'SELECT message_id, member_id, order_id, kind, toUnixTimestamp64Milli(at) AS at, toString(amount) AS amount, toString(discount) AS discount, coupon, currency, products FROM orders FINAL ORDER BY at, message_id',
  );

describe('orders table (needs ClickHouse)', () => {
  it('is filled from stored events when created, and from each insert after', async () => {
    await warehouse.insert('events', [eventRow('m1', paid), eventRow('m1', view)]);
    expect(await applyMigrations(warehouse, HISTORY_MIGRATIONS)).toEqual([4]);
    await warehouse.insert('events', [eventRow('m1', refund), eventRow('m2', later)]);
    // A replay of everything.
    await warehouse.insert(
      'events',
      [paid, refund, view].map((e) => eventRow('m1', e)),
    );
    expect(await orders()).toEqual([
      {
        message_id: 'msg-paid',
        member_id: 'm1',
        order_id: 'o-1',
        kind: 'paid',
        at: AT,
        amount: '75.5',
        discount: '12.5',
        coupon: 'SAVE12',
        currency: 'CNY',
        products: 2,
      },
      {
        message_id: 'msg-refund',
        member_id: 'm1',
        order_id: 'o-1',
        kind: 'refunded',
        at: AT + 3_600_000,
        amount: '20',
        discount: '0',
        coupon: '',
        currency: 'CNY',
        products: 0,
      },
      {
        message_id: 'msg-later',
        member_id: 'm2',
        order_id: 'o-2',
        kind: 'paid',
        at: AT + 86_400_000,
        amount: '0.29',
        discount: '0',
        coupon: '',
        currency: '',
        products: 0,
      },
    ]);
  });
});

describe('migrations (needs ClickHouse)', () => {
  it('recreate a table that is gone, and the orders view fills it again', async () => {
    await warehouse.command('DROP TABLE events');
    await warehouse.command('DROP TABLE orders');
    expect(await applyMigrations(warehouse, HISTORY_MIGRATIONS)).toEqual([1, 4]);
    expect(await applyMigrations(warehouse, HISTORY_MIGRATIONS)).toEqual([]);
    await warehouse.insert('events', [eventRow('m1', paid)]);
    expect((await orders()).map((o) => o.message_id)).toEqual(['msg-paid']);
    const tables = await warehouse.query<{ name: string }>('SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name');
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(HISTORY_MIGRATIONS.flatMap((m) => createdBy(m))));
  });
});
