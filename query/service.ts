import type { FastifyInstance } from 'fastify';
import { RemoteAnalysisRunner } from '../lib/analytics/remote-runner.ts';
import { type AnalysisRunner, WarehouseAnalysisRunner } from '../lib/analytics/runner.ts';
import type { ConfigOf } from '../lib/config/load.ts';
import { errorMessage, ServiceUnavailableError } from '../lib/errors.ts';
import { listeningUrl } from '../lib/http/listening-url.ts';
import { ServiceLifecycle } from '../lib/lifecycle.ts';
import type { Logger } from '../lib/logger.ts';
import { openWarehouse } from '../lib/warehouse/open.ts';
import type { Warehouse } from '../lib/warehouse/warehouse.ts';
import type { queryConfigSchema } from './config.ts';
import { buildQueryServer } from './server.ts';

export type QueryConfig = ConfigOf<(typeof queryConfigSchema)['vars']>;

/** The analytics query service: the query API over a warehouse it opens, or over the processor that owns embedded ClickHouse. */
export function createQueryService(config: QueryConfig, logger: Logger) {
  let warehouse: Warehouse | undefined;
  let runner: AnalysisRunner | undefined;
  let server: Awaited<ReturnType<typeof buildQueryServer>> | undefined;
  const lifecycle = new ServiceLifecycle({ logger, stopTimeoutMs: 10_000 });
  lifecycle.add({
    name: 'clickhouse',
    start: async () => {
      if (config.QUERY_WAREHOUSE_URL) {
        const remote = new RemoteAnalysisRunner({ url: config.QUERY_WAREHOUSE_URL, token: config.QUERY_WAREHOUSE_TOKEN ?? '' });
        try {
          await remote.probe();
        } catch (error) {
          throw new ServiceUnavailableError('ClickHouse', `could not read through ${config.QUERY_WAREHOUSE_URL} (${errorMessage(error)})`, { cause: error });
        }
        runner = remote;
        return;
      }
      try {
        warehouse = await openWarehouse(config);
      } catch (error) {
        // Embedded ClickHouse locks its directory: the history service (or another process) may hold it.
        throw new ServiceUnavailableError(
          'ClickHouse',
          `could not open ${config.CLICKHOUSE_URL ?? config.CLICKHOUSE_PATH} (${errorMessage(error)}); embedded ClickHouse allows one process per CLICKHOUSE_PATH, so with the history service running read through it (QUERY_WAREHOUSE_URL and QUERY_WAREHOUSE_TOKEN, with HISTORY_READ_TOKENS on the history service) or use a ClickHouse server (CLICKHOUSE_URL)`,
          { cause: error },
        );
      }
      runner = new WarehouseAnalysisRunner(warehouse, {
        timeoutMs: config.QUERY_TIMEOUT_MS,
        maxMemoryBytes: config.QUERY_MAX_MEMORY_MB * 1_048_576,
        configuredBy: { timeout: 'QUERY_TIMEOUT_MS', memory: 'QUERY_MAX_MEMORY_MB' },
      });
    },
    stop: async () => warehouse?.close(),
  });
  lifecycle.add({
    name: 'http',
    start: async () => {
      server = await buildQueryServer({
        runner: runner as AnalysisRunner,
        tokens: config.QUERY_API_TOKENS,
        timeoutMs: config.QUERY_TIMEOUT_MS,
        logger,
        operationsTokens: config.OPERATIONS_TOKENS,
      });
      const address = await server.listen({ host: config.QUERY_HOST, port: config.QUERY_PORT });
      logger.info({ address }, 'query API running');
    },
    stop: async () => server?.close(),
  });
  return {
    lifecycle,
    url: () => listeningUrl(server as FastifyInstance),
  };
}
