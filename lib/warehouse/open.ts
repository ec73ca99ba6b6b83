import { resolve } from 'node:path';
import { EmbeddedWarehouse } from './embedded.ts';
import { ServerWarehouse } from './server.ts';
import type { Warehouse } from './warehouse.ts';

export interface WarehouseConfig {
  readonly CLICKHOUSE_URL: string | undefined;
  readonly CLICKHOUSE_USER: string;
  readonly CLICKHOUSE_PASSWORD: string | undefined;
  readonly CLICKHOUSE_DATABASE: string;
  readonly CLICKHOUSE_PATH: string;
}

/** A ClickHouse server when CLICKHOUSE_URL is set, embedded chdb under CLICKHOUSE_PATH otherwise. */
export function openWarehouse(config: WarehouseConfig): Promise<Warehouse> {
  if (config.CLICKHOUSE_URL) {
    return ServerWarehouse.open({
      url: config.CLICKHOUSE_URL,
      username: config.CLICKHOUSE_USER,
      password: config.CLICKHOUSE_PASSWORD,
      database: config.CLICKHOUSE_DATABASE,
    });
  }
  return EmbeddedWarehouse.open(resolve(config.CLICKHOUSE_PATH), config.CLICKHOUSE_DATABASE);
}
