import type { Warehouse } from './warehouse.ts';

/** One schema change. Statements must be safe to run again (IF NOT EXISTS, ...). */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: readonly string[];
  /**
   * A query that returns a row when what the statements make is there already (e.g. a
   * table created in its new form by an earlier migration on a fresh install): the
   * migration is then recorded without running them.
   */
  readonly skipWhen?: string;
}

const CREATED = /\bCREATE\s+(?:TABLE|(?:MATERIALIZED\s+)?VIEW)\s+IF\s+NOT\s+EXISTS\s+([A-Za-z_][A-Za-z0-9_]*)/gi;

/** The tables and views a migration's statements create. */
export function createdBy(migration: Migration): string[] {
  return migration.statements.flatMap((statement) => [...statement.matchAll(CREATED)].map((match) => match[1] as string));
}

/**
 * Applies the migrations not yet recorded in schema_migrations, in version order, and
 * again any recorded one whose tables or views are gone (dropped by hand, lost with a
 * disk), as its statements are safe to run again. Run at start by every service that
 * owns tables; running it twice changes nothing.
 */
export async function applyMigrations(warehouse: Warehouse, migrations: readonly Migration[]): Promise<number[]> {
  await warehouse.command(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY version",
  );
  const done = new Set((await warehouse.query<{ version: number }>('SELECT DISTINCT version FROM schema_migrations')).map((r) => r.version));
  const existing = new Set((await warehouse.query<{ name: string }>('SELECT name FROM system.tables WHERE database = currentDatabase()')).map((r) => r.name));
  const applied: number[] = [];
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    const complete = createdBy(migration).every((name) => existing.has(name));
    if (done.has(migration.version) && complete) continue;
    const skip = migration.skipWhen !== undefined && (await warehouse.query(migration.skipWhen)).length > 0;
    if (!skip) for (const statement of migration.statements) await warehouse.command(statement);
    if (!done.has(migration.version)) await warehouse.insert('schema_migrations', [{ version: migration.version, name: migration.name }]);
    if (!skip) applied.push(migration.version);
  }
  return applied;
}
