import { mkdirSync } from 'node:fs';
import { Session } from 'chdb';
import { assertIdentifier, COMMON_SETTINGS, type QueryParams, type Warehouse } from './warehouse.ts';

const SETTINGS_ARGS = Object.entries(COMMON_SETTINGS).map(([name, value]) => `--${name}=${value}`);

/**
 * Embedded ClickHouse (chdb) in this process. One data directory belongs to one process
 * at a time; queries run off the event loop (chdb's async API).
 */
export class EmbeddedWarehouse implements Warehouse {
  readonly kind = 'embedded';
  readonly database: string;
  readonly #session: Session;

  private constructor(session: Session, database: string) {
    this.#session = session;
    this.database = database;
  }

  static async open(path: string, database: string): Promise<EmbeddedWarehouse> {
    assertIdentifier('database', database);
    mkdirSync(path, { recursive: true });
    const session = new Session(path, { connectionArgs: SETTINGS_ARGS });
    await session.queryAsync(`CREATE DATABASE IF NOT EXISTS ${database}`);
    await session.queryAsync(`USE ${database}`);
    return new EmbeddedWarehouse(session, database);
  }

  async query<Row>(sql: string, params: QueryParams = {}): Promise<Row[]> {
    const result = await this.#session.queryBindAsync(sql, params, { format: 'JSONEachRow' });
    const text = result.text();
    if (text.length === 0) return [];
    return text
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as Row);
  }

  async command(sql: string, params: QueryParams = {}): Promise<void> {
    await this.#session.queryBindAsync(sql, params, { format: 'Null' });
  }

  async insert(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    if (rows.length === 0) return;
    // JSONCompactEachRow with the column list: values only, no repeated keys to write and
    // for ClickHouse to parse (cheaper than JSONEachRow on both sides; rows share their keys).
    const columns = Object.keys(rows[0] as Record<string, unknown>).map((c) => assertIdentifier('column', c));
    let payload = '';
    for (const row of rows) payload += `${JSON.stringify(columns.map((c) => row[c]))}\n`;
    await this.#session.insert({ table: `${this.database}.${assertIdentifier('table', table)}`, columns, values: payload, format: 'JSONCompactEachRow' });
  }

  async close(): Promise<void> {
    this.#session.close();
  }
}
