import type { FastifyInstance } from 'fastify';
import type { AnalysisRunner } from '../lib/analytics/runner.ts';
import { registerWarehouseRoutes } from '../lib/analytics/warehouse-routes.ts';
import { createApiServer } from '../lib/http/api-server.ts';
import type { Logger } from '../lib/logger.ts';
import type { HistoryMetrics } from './metrics.ts';

export interface HistoryServerDependencies {
  /** OPERATIONS_TOKENS: /metrics and /docs then require one. */
  readonly operationsTokens?: readonly string[] | undefined;
  /** Analyses other services may run on the ClickHouse this service owns, and their tokens (no tokens: not served). */
  readonly reads: { readonly runner: AnalysisRunner; readonly tokens: readonly string[]; readonly timeoutMs: number };
  readonly metrics: HistoryMetrics;
  readonly logger: Logger;
  readonly ready: () => Promise<boolean>;
}

/** The history service's HTTP side: named analyses for the query service and the processors, health, metrics, OpenAPI. */
export async function buildHistoryServer(deps: HistoryServerDependencies): Promise<FastifyInstance> {
  const app = await createApiServer({
    title: 'segstream history',
    description:
      'Writes what the processors publish to ClickHouse and owns it: other services run the catalogue of named analyses here (never SQL), read-only and within time and memory limits.',
    logger: deps.logger,
    operationsTokens: deps.operationsTokens,
  });
  if (deps.reads.tokens.length > 0)
    await registerWarehouseRoutes(app, {
      ...deps.reads,
      tokensVariable: 'HISTORY_READ_TOKENS',
      timeoutVariable: 'HISTORY_READ_TIMEOUT_MS',
      logger: deps.logger,
    });
  app.get('/healthz', { schema: { summary: 'The process is up', tags: ['health'] } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { summary: 'Consuming and able to write ClickHouse', tags: ['health'] } }, async (_request, reply) => {
    const ready = await deps.ready();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
  });
  app.get('/metrics', { schema: { summary: 'Prometheus metrics', tags: ['health'] } }, async (_request, reply) =>
    reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()),
  );
  return app;
}
