import { describe, expect, it } from 'vitest';
import { eventRow } from '../../history/history-writer.ts';
import { HISTORY_MIGRATIONS } from '../../history/migrations.ts';
import { applyMigrations } from '../../lib/warehouse/migrations.ts';
import { historyWarehouse } from '../harness/history-warehouse.ts';
import { testEvent } from '../harness/test-event.ts';

/* Events and orders are keyed by message id: a message sent twice is one row, whatever time each copy got. */

const AT = Date.UTC(2026, 5, 1, 9);
const order = (at: number) =>
  testEvent('msg-order', at, { userId: 'u1', event: 'Order Completed', properties: JSON.stringify({ order_id: 'o-1', total: 12.5 }) });

/** The migrations as they were before version 5: events and orders sorted by time first. */
const KEYED_BY_TIME = HISTORY_MIGRATIONS.filter((m) => m.version < 5).map((m) => ({
  ...m,
  statements: m.statements.map((statement) =>
    statement.includes('CREATE TABLE IF NOT EXISTS events (')
      ? statement.replace('ORDER BY (member_id, message_id)', 'ORDER BY (member_id, ts, message_id)')
      : statement.includes('CREATE TABLE IF NOT EXISTS orders (')
        ? statement.replace('ORDER BY (member_id, message_id)', 'ORDER BY (member_id, at, message_id)')
        : statement,
  ),
}));

const counts = async (warehouse: Awaited<ReturnType<typeof historyWarehouse>>) => ({
  events: (await warehouse.query<{ n: number }>('SELECT count() AS n FROM events FINAL'))[0]?.n,
  orders: (await warehouse.query<{ n: number }>('SELECT count() AS n FROM orders FINAL'))[0]?.n,
});
const sortingKeys = async (warehouse: Awaited<ReturnType<typeof historyWarehouse>>) =>
  warehouse.query<{ name: string; sorting_key: string }>(
    "SELECT name, sorting_key FROM system.tables WHERE database = currentDatabase() AND name IN ('events', 'orders') ORDER BY name",
  );

describe('history keys (needs ClickHouse)', () => {
  it('a message sent twice with different times is one event row and one order row', async () => {
    const warehouse = await historyWarehouse('keys');
    try {
      expect(await sortingKeys(warehouse)).toEqual([
        { name: 'events', sorting_key: 'member_id, message_id' },
        { name: 'orders', sorting_key: 'member_id, message_id' },
      ]);
      await warehouse.insert('events', [eventRow('m1', order(AT))]);
      await warehouse.insert('events', [eventRow('m1', order(AT + 7))]);
      expect(await counts(warehouse)).toEqual({ events: 1, orders: 1 });
    } finally {
      await warehouse.close();
    }
  });

  it('migration 5 rekeys tables sorted by time, keeping their rows and the orders view', async () => {
    const warehouse = await historyWarehouse('rekey', KEYED_BY_TIME);
    try {
      await warehouse.insert('events', [eventRow('m1', order(AT)), eventRow('m1', order(AT + 7))]);
      expect(await counts(warehouse)).toEqual({ events: 2, orders: 2 });
      expect(await applyMigrations(warehouse, HISTORY_MIGRATIONS)).toEqual([5]);
      expect(await sortingKeys(warehouse)).toEqual([
        { name: 'events', sorting_key: 'member_id, message_id' },
        { name: 'orders', sorting_key: 'member_id, message_id' },
      ]);
      expect(await counts(warehouse)).toEqual({ events: 1, orders: 1 });
      await warehouse.insert('events', [eventRow('m2', testEvent('msg-2', AT, { userId: 'u2', event: 'Order Completed', properties: '{"total":3}' }))]);
      expect(await counts(warehouse)).toEqual({ events: 2, orders: 2 });
      expect(await applyMigrations(warehouse, HISTORY_MIGRATIONS)).toEqual([]);
    } finally {
      await warehouse.close();
    }
  });
});
