import type { QueryParams, Warehouse } from './warehouse.ts';

/** The route a warehouse owner serves read queries on (see registerWarehouseQueryRoute). */
export const WAREHOUSE_QUERY_PATH = '/warehouse/query';

/**
 * Reads through the process that owns an embedded ClickHouse (chdb allows one process
 * per data directory): SELECTs go over HTTP to that process's warehouse query route.
 * Read-only: commands and inserts are refused here, and the owner runs only SELECTs.
 */
export class RemoteWarehouse implements Warehouse {
  readonly kind = 'remote';
  readonly database: string;
  readonly #url: string;
  readonly #token: string;

  constructor(settings: { readonly url: string; readonly token: string; readonly database: string }) {
    this.#url = new URL(WAREHOUSE_QUERY_PATH, settings.url).toString();
    this.#token = settings.token;
    this.database = settings.database;
  }

  async query<Row>(sql: string, params: QueryParams = {}): Promise<Row[]> {
    let response: Response;
    try {
      response = await fetch(this.#url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ sql, params }),
      });
    } catch (error) {
      throw new Error(`the warehouse owner at ${this.#url} is not reachable: ${(error as Error).cause ?? error}`, { cause: error });
    }
    const body = (await response.json().catch(() => ({}))) as { rows?: Row[]; message?: string };
    if (!response.ok) throw new Error(`the warehouse owner at ${this.#url} answered ${response.status}: ${body.message ?? 'no message'}`);
    return body.rows ?? [];
  }

  async command(): Promise<void> {
    throw new Error('this warehouse is read-only (reached through the process that owns embedded ClickHouse)');
  }

  async insert(): Promise<void> {
    throw new Error('this warehouse is read-only (reached through the process that owns embedded ClickHouse)');
  }

  async close(): Promise<void> {}
}
