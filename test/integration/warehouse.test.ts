import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { EmbeddedWarehouse } from '../../lib/warehouse/embedded.ts';
import { ServerWarehouse } from '../../lib/warehouse/server.ts';
import type { Warehouse } from '../../lib/warehouse/warehouse.ts';

const services = inject('services');
const dataDir = mkdtempSync(join(tmpdir(), 'segstream-chdb-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** The embedded warehouse always; a ClickHouse server too when the harness has one (testcontainers). */
const targets: [string, () => Promise<Warehouse>][] = [['embedded chdb', () => EmbeddedWarehouse.open(dataDir, 'segstream_test')]];
if (services.clickhouse) {
  const { url, user, password } = services.clickhouse;
  targets.push(['ClickHouse server', () => ServerWarehouse.open({ url, username: user, password, database: 'segstream_test' })]);
}

describe.each(targets)('warehouse: %s (needs ClickHouse)', (_name, open) => {
  it('creates a table, inserts rows and selects them with bound parameters', async () => {
    const warehouse = await open();
    try {
      await warehouse.command('DROP TABLE IF EXISTS wh_events');
      await warehouse.command(
        "CREATE TABLE wh_events (member_id String, event LowCardinality(String), ts DateTime64(3, 'UTC'), amount Decimal(18, 2), tags Array(String)) ENGINE = ReplacingMergeTree ORDER BY (member_id, ts)",
      );
      await warehouse.insert('wh_events', [
        { member_id: 'm1', event: 'Order Completed', ts: '2026-01-05 10:00:00.000', amount: 42.5, tags: ['vip'] },
        { member_id: 'm1', event: 'Product Viewed', ts: '2026-01-05 09:59:00.000', amount: 0, tags: [] },
        { member_id: "o'brien", event: 'Order Completed', ts: '2026-01-06 08:00:00.000', amount: 19.99, tags: ['new', 'app'] },
      ]);
      const rows = await warehouse.query<{ member_id: string; orders: number; revenue: string }>(
        'SELECT member_id, count() AS orders, toString(sum(amount)) AS revenue FROM wh_events WHERE event = {event:String} AND ts >= {from:DateTime64(3)} GROUP BY member_id ORDER BY member_id',
        { event: 'Order Completed', from: '2026-01-01 00:00:00' },
      );
      expect(rows).toEqual([
        { member_id: 'm1', orders: 1, revenue: '42.5' },
        { member_id: "o'brien", orders: 1, revenue: '19.99' },
      ]);
      const byArray = await warehouse.query<{ n: number }>('SELECT count() AS n FROM wh_events WHERE hasAny(tags, {tags:Array(String)})', {
        tags: ['app', 'vip'],
      });
      expect(byArray).toEqual([{ n: 2 }]);
    } finally {
      await warehouse.close();
    }
  });

  it('stores any text exactly: tabs, newlines, backslashes, quotes, JSON, unicode, arrays of such, in an insert of hundreds of rows', async () => {
    const warehouse = await open();
    try {
      await warehouse.command('DROP TABLE IF EXISTS wh_text');
      await warehouse.command('CREATE TABLE wh_text (id UInt32, text String, list Array(String), maybe Nullable(String)) ENGINE = MergeTree ORDER BY id');
      // Text that looks like numbers, dates or booleans must stay text (read with the table's types, never guessed).
      const samples = [
        'a\tb\nc\r\\d',
        '{"k":"v \\"quoted\\" \\\\ back","n":[1,2]}',
        "it's",
        '\\N',
        '',
        '你好 🎉',
        'x\u0000y',
        '007',
        '1e3',
        '2026-01-01',
        'true',
      ];
      // More rows than the embedded warehouse encodes at a time, so the pieces must join up exactly.
      const texts = Array.from({ length: 600 }, (_, i) => `${samples[i % samples.length]}${i % 3 === 0 || i < samples.length ? '' : ` #${i}`}`);
      await warehouse.insert(
        'wh_text',
        texts.map((text, id) => ({ id, text, list: [text, "o'brien", '[x]'], maybe: id % 2 === 0 ? null : text })),
      );
      const rows = await warehouse.query<{ id: number; text: string; list: string[]; maybe: string | null }>(
        'SELECT id, text, list, maybe FROM wh_text ORDER BY id',
      );
      expect(rows).toEqual(texts.map((text, id) => ({ id, text, list: [text, "o'brien", '[x]'], maybe: id % 2 === 0 ? null : text })));
    } finally {
      await warehouse.close();
    }
  });

  it('treats a hostile parameter as a value, never as SQL', async () => {
    const warehouse = await open();
    try {
      const hostile = "m1' OR '1'='1";
      const rows = await warehouse.query<{ n: number }>('SELECT count() AS n FROM wh_events WHERE member_id = {member:String}', { member: hostile });
      expect(rows).toEqual([{ n: 0 }]);
      await expect(warehouse.insert('wh_events; DROP TABLE wh_events', [{ member_id: 'x' }])).rejects.toThrow(/not a plain identifier/);
      expect(await warehouse.query('SELECT count() AS n FROM wh_events')).toEqual([{ n: 3 }]);
    } finally {
      await warehouse.close();
    }
  });

  it("reports SQL errors with ClickHouse's message", async () => {
    const warehouse = await open();
    try {
      await expect(warehouse.query('SELECT no_such_column FROM wh_events')).rejects.toThrow(/no_such_column/);
    } finally {
      await warehouse.close();
    }
  });
});

describe('embedded warehouse insert files (needs embedded ClickHouse)', () => {
  it('removes each insert file once ClickHouse has read it, even when the insert fails, and drops files a crash left behind', async () => {
    const spool = join(dataDir, 'insert-spool');
    let warehouse = await EmbeddedWarehouse.open(dataDir, 'segstream_test');
    try {
      await warehouse.command('CREATE TABLE IF NOT EXISTS wh_spool (n UInt32) ENGINE = MergeTree ORDER BY n');
      await warehouse.insert('wh_spool', [{ n: 1 }, { n: 2 }]);
      await expect(warehouse.insert('wh_spool', [{ n: 'not a number' }])).rejects.toThrow(/not a number|Cannot parse/i);
      expect(readdirSync(spool)).toEqual([]);
      writeFileSync(join(spool, 'left-by-a-crash'), '3\n');
    } finally {
      await warehouse.close();
    }
    warehouse = await EmbeddedWarehouse.open(dataDir, 'segstream_test');
    try {
      expect(readdirSync(spool)).toEqual([]);
      expect(await warehouse.query('SELECT n FROM wh_spool ORDER BY n')).toEqual([{ n: 1 }, { n: 2 }]);
    } finally {
      await warehouse.close();
    }
  });
});
