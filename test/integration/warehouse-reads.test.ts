import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventRow } from '../../history/history-writer.ts';
import type { Analysis } from '../../lib/analytics/catalog.ts';
import { AnalysisLimitExceeded, WarehouseAnalysisRunner } from '../../lib/analytics/runner.ts';
import type { Warehouse } from '../../lib/warehouse/warehouse.ts';
import { canaryServer, warehouseExploits } from '../harness/exploits.ts';
import { historyWarehouse } from '../harness/history-warehouse.ts';
import { testEvent } from '../harness/test-event.ts';

/*
 * Defence in depth: even SQL the catalogue never builds cannot write, read files, reach
 * the network, lift read-only mode or run without end when the analysis runner runs it.
 */

let warehouse: Warehouse;
beforeAll(async () => {
  warehouse = await historyWarehouse('warehouse-reads');
  await warehouse.insert('events', [eventRow('m1', testEvent('e1', Date.UTC(2026, 5, 1), { userId: 'm1', event: 'Viewed' }))]);
}, 60_000);
afterAll(() => warehouse.close());

const LIMITS = { timeoutMs: 1_000, maxMemoryBytes: 64 * 1_048_576, configuredBy: { timeout: 'TEST_TIMEOUT_MS', memory: 'TEST_MAX_MEMORY_MB' } };
/** An analysis outside the catalogue whose SQL is whatever the test says. */
const rogue = (sql: string): Analysis => ({ name: 'rogue', summary: '', body: {}, sql: () => ({ sql, params: {} }), result: (_, rows) => rows });

describe('analysis runner (needs ClickHouse)', () => {
  it('runs reads read-only within time and memory limits, whatever the SQL', async () => {
    const runner = new WarehouseAnalysisRunner(warehouse, LIMITS);
    const canary = await canaryServer();
    const writtenFile = join(mkdtempSync(join(tmpdir(), 'segstream-reads-')), 'written.csv');
    try {
      for (const sql of warehouseExploits({ database: warehouse.database, writtenFile, canaryUrl: canary.url })) {
        const started = Date.now();
        await expect(runner.run(rogue(sql), {}).then(() => `ran: ${sql}`)).rejects.toThrow();
        expect(Date.now() - started, sql).toBeLessThan(5_000);
      }
      for (const sql of [
        'DROP TABLE events',
        'TRUNCATE TABLE events',
        "INSERT INTO events (message_id) VALUES ('x')",
        "ALTER TABLE events DELETE WHERE message_id = 'e1'",
        'CREATE TABLE stolen (x UInt8) ENGINE = Memory',
        'SELECT 1 SETTINGS readonly = 0',
        "SELECT * FROM remote('127.0.0.1:9000', system.one)",
        "SELECT * FROM executable('id', 'TSV', 'x String')",
      ])
        await expect(runner.run(rogue(sql), {}), sql).rejects.toThrow(/READONLY|readonly|Syntax error|SYNTAX_ERROR|Cannot/);
      await expect(runner.run(rogue('SELECT sum(number) FROM numbers(20000000000)'), {})).rejects.toThrow(
        new AnalysisLimitExceeded('time', 'the analysis took longer than 1000 ms (TEST_TIMEOUT_MS)'),
      );
      await expect(runner.run(rogue('SELECT groupArray(number) FROM numbers(100000000)'), {})).rejects.toThrow(
        /needed more than 67108864 bytes of memory \(TEST_MAX_MEMORY_MB\)/,
      );
      expect(await runner.run(rogue('SELECT count() AS n FROM events'), {})).toEqual([{ n: 1 }]);
      expect(existsSync(writtenFile)).toBe(false);
      expect(canary.requests()).toBe(0);
      await expect(runner.probe()).resolves.toBeUndefined();
    } finally {
      await canary.close();
    }
  });
});
