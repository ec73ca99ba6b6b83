import type { FastifyInstance } from 'fastify';
import { registerAnalysisRoutes } from '../lib/analytics/routes.ts';
import type { AnalysisRunner } from '../lib/analytics/runner.ts';
import { createApiServer } from '../lib/http/api-server.ts';
import { bearerToken, unauthorized } from '../lib/http/bearer.ts';
import type { Logger } from '../lib/logger.ts';

export interface QueryServerDependencies {
  readonly runner: AnalysisRunner;
  readonly tokens: readonly string[];
  readonly timeoutMs: number;
  readonly logger: Logger;
  /** OPERATIONS_TOKENS: /metrics and /docs then require one. */
  readonly operationsTokens?: readonly string[] | undefined;
}

/** The analytics API: one POST per analysis, bearer tokens, JSON Schema bodies, a time limit per query. */
export async function buildQueryServer(deps: QueryServerDependencies): Promise<FastifyInstance> {
  const app = await createApiServer({
    title: 'segstream query',
    description: 'Funnel, retention, attribution, paths, trends, lifecycle and segment sizes, RFM, LTV, campaign reports (docs/analytics.md).',
    logger: deps.logger,
    operationsTokens: deps.operationsTokens,
  });
  app.addHook('onRequest', async (request, reply) => {
    if (!request.url.startsWith('/analyses/')) return;
    const token = bearerToken(request.headers.authorization);
    if (token === undefined || !deps.tokens.includes(token)) return reply.code(401).send(unauthorized('QUERY_API_TOKENS'));
  });
  registerAnalysisRoutes(app, {
    prefix: '/analyses',
    tag: 'analyses',
    runner: deps.runner,
    timeoutMs: deps.timeoutMs,
    timeoutVariable: 'QUERY_TIMEOUT_MS',
    logger: deps.logger,
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = await deps.runner.probe().then(
      () => true,
      () => false,
    );
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
  });
  return app;
}
