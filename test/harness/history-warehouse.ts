import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { HISTORY_MIGRATIONS } from '../../history/migrations.ts';
import { EmbeddedWarehouse } from '../../lib/warehouse/embedded.ts';
import { applyMigrations, type Migration } from '../../lib/warehouse/migrations.ts';
import { ServerWarehouse } from '../../lib/warehouse/server.ts';
import type { Warehouse } from '../../lib/warehouse/warehouse.ts';

/**
 * A fresh warehouse holding the processors' history tables, for analyses to read: a new
 * database on the ClickHouse server when the harness has one (testcontainers, or
 * TEST_CLICKHOUSE_URL), so the same SQL is proven there; embedded ClickHouse otherwise.
 */
export async function historyWarehouse(name: string, migrations: readonly Migration[] = HISTORY_MIGRATIONS): Promise<Warehouse> {
  const server = inject('services').clickhouse;
  const database = `segstream_${name.replace(/\W/g, '_')}_${Date.now().toString(36)}`;
  const warehouse = server
    ? await ServerWarehouse.open({ url: server.url, username: server.user, password: server.password, database })
    : await EmbeddedWarehouse.open(mkdtempSync(join(tmpdir(), `segstream-${name}-`)), 'analytics');
  await applyMigrations(warehouse, migrations);
  return warehouse;
}
