import { clickhouseVars, loggingVars, operationsVars } from '../lib/config/common.ts';
import { defineConfig } from '../lib/config/load.ts';
import { int, list, str, url } from '../lib/config/variables.ts';

export const queryConfigSchema = defineConfig(
  'query',
  {
    ...loggingVars,
    ...operationsVars,
    ...clickhouseVars,
    QUERY_HOST: str('Address of the analytics query API').default('0.0.0.0'),
    QUERY_PORT: int('Port of the analytics query API', { min: 0, max: 65535 }).default(8083),
    QUERY_API_TOKENS: list('Bearer tokens allowed to run analyses').secret().required(),
    QUERY_WAREHOUSE_URL: url(
      'Run analyses on the history service, which owns embedded ClickHouse (its HTTP address, e.g. http://127.0.0.1:8084) and builds and runs their SQL itself, instead of opening CLICKHOUSE_URL or CLICKHOUSE_PATH',
      ['http:', 'https:'],
    ).optional(),
    QUERY_WAREHOUSE_TOKEN: str("Bearer token for QUERY_WAREHOUSE_URL (one of the history service's HISTORY_READ_TOKENS)").secret().optional(),
    QUERY_TIMEOUT_MS: int('Longest an analysis may run before it is stopped and answered with 504', { min: 100, max: 600_000 }).default(30_000),
    QUERY_MAX_MEMORY_MB: int('Most memory one analysis may use in ClickHouse before it is stopped and answered with 422', { min: 16, max: 1_048_576 }).default(
      4_096,
    ),
  },
  { QUERY_WAREHOUSE_TOKEN: 'QUERY_WAREHOUSE_URL' },
);
