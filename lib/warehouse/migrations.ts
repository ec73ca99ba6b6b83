import type { Warehouse } from './warehouse.ts';

/** One schema change. Statements must be safe to run again (IF NOT EXISTS, ...). */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: readonly string[];
}

/**
 * Applies the migrations not yet recorded in schema_migrations, in version order. Run
 * at start by every service that owns tables; running it twice changes nothing.
 */
export async function applyMigrations(warehouse: Warehouse, migrations: readonly Migration[]): Promise<number[]> {
  await warehouse.command(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY version",
  );
  const done = new Set((await warehouse.query<{ version: number }>('SELECT DISTINCT version FROM schema_migrations')).map((r) => r.version));
  const applied: number[] = [];
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (done.has(migration.version)) continue;
    for (const statement of migration.statements) await warehouse.command(statement);
    await warehouse.insert('schema_migrations', [{ version: migration.version, name: migration.name }]);
    applied.push(migration.version);
  }
  return applied;
}
