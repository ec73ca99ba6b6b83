import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedWarehouse } from '../../lib/warehouse/embedded.ts';
import { applyMigrations } from '../../lib/warehouse/migrations.ts';
import { HISTORY_MIGRATIONS } from '../../processors/history/migrations.ts';

/** A fresh embedded ClickHouse holding the processors' history tables, for analyses to read. */
export async function historyWarehouse(name: string): Promise<EmbeddedWarehouse> {
  const warehouse = await EmbeddedWarehouse.open(mkdtempSync(join(tmpdir(), `segstream-${name}-`)), 'analytics');
  await applyMigrations(warehouse, HISTORY_MIGRATIONS);
  return warehouse;
}
