import { type ClickHouseClient, ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { assertIdentifier, COMMON_SETTINGS, type QueryParams, type Warehouse } from './warehouse.ts';

export interface ServerSettings {
  readonly url: string;
  readonly username: string;
  readonly password: string | undefined;
  readonly database: string;
}

/** A ClickHouse server reached over HTTP with @clickhouse/client. */
export class ServerWarehouse implements Warehouse {
  readonly kind = 'server';
  readonly database: string;
  readonly #client: ClickHouseClient;

  private constructor(client: ClickHouseClient, database: string) {
    this.#client = client;
    this.database = database;
  }

  static async open(settings: ServerSettings): Promise<ServerWarehouse> {
    assertIdentifier('database', settings.database);
    // The client's own logging is off: every failure reaches the caller as an error, which the service logs its way.
    const base = {
      url: settings.url,
      username: settings.username,
      password: settings.password ?? '',
      clickhouse_settings: { ...COMMON_SETTINGS },
      log: { level: ClickHouseLogLevel.OFF },
    };
    const bootstrap = createClient(base);
    try {
      await bootstrap.command({ query: `CREATE DATABASE IF NOT EXISTS ${settings.database}` });
    } finally {
      await bootstrap.close();
    }
    return new ServerWarehouse(createClient({ ...base, database: settings.database }), settings.database);
  }

  async query<Row>(sql: string, params: QueryParams = {}): Promise<Row[]> {
    const result = await this.#client.query({ query: sql, query_params: { ...params }, format: 'JSONEachRow' });
    return result.json<Row>();
  }

  async command(sql: string, params: QueryParams = {}): Promise<void> {
    await this.#client.command({ query: sql, query_params: { ...params } });
  }

  async insert(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    if (rows.length === 0) return;
    await this.#client.insert({ table: assertIdentifier('table', table), values: [...rows], format: 'JSONEachRow' });
  }

  async close(): Promise<void> {
    await this.#client.close();
  }
}
