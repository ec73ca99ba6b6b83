import type { FastifyInstance } from 'fastify';
import { errorMessage } from '../lib/errors.ts';
import { createApiServer } from '../lib/http/api-server.ts';
import { bearerToken, unauthorized } from '../lib/http/bearer.ts';
import type { Logger } from '../lib/logger.ts';
import type { Warehouse } from '../lib/warehouse/warehouse.ts';
import { ANALYSES } from './analyses.ts';

export interface QueryServerDependencies {
  readonly warehouse: Warehouse;
  readonly tokens: readonly string[];
  readonly timeoutMs: number;
  readonly logger: Logger;
}

class QueryTimeout extends Error {}

/** The analytics API: one POST per analysis, bearer tokens, JSON Schema bodies, a time limit per query. */
export async function buildQueryServer(deps: QueryServerDependencies): Promise<FastifyInstance> {
  const app = await createApiServer({
    title: 'segstream query',
    description: 'Funnel, retention, attribution, paths, trends, lifecycle and segment sizes, RFM (docs/analytics.md).',
    logger: deps.logger,
  });
  app.addHook('onRequest', async (request, reply) => {
    if (!request.url.startsWith('/analyses/')) return;
    const token = bearerToken(request.headers.authorization);
    if (token === undefined || !deps.tokens.includes(token)) return reply.code(401).send(unauthorized('QUERY_API_TOKENS'));
  });
  // ClickHouse stops the query itself too; the setting is a number from configuration, never request text.
  const settings = `SETTINGS max_execution_time = ${Math.max(1, Math.ceil(deps.timeoutMs / 1000))}`;
  for (const analysis of ANALYSES)
    app.post(
      `/analyses${analysis.path}`,
      { schema: { summary: analysis.summary, tags: ['analyses'], security: [{ bearer: [] }], body: analysis.body } },
      async (request, reply) => {
        const body = request.body as never;
        const problems = analysis.check?.(body) ?? [];
        if (problems.length > 0) return reply.code(422).send({ error: 'invalid_request', message: problems.join('; '), problems });
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new QueryTimeout()), deps.timeoutMs);
        });
        try {
          return await Promise.race([analysis.run(deps.warehouse, body, settings), deadline]);
        } catch (error) {
          if (error instanceof QueryTimeout || /TIMEOUT_EXCEEDED|Timeout exceeded/.test(errorMessage(error)))
            return reply
              .code(504)
              .send({ error: 'timeout', message: `the analysis took longer than ${deps.timeoutMs} ms (QUERY_TIMEOUT_MS); narrow the date range` });
          deps.logger.error({ err: errorMessage(error), path: analysis.path }, 'analysis failed');
          return reply.code(500).send({ error: 'query_failed', message: errorMessage(error) });
        } finally {
          clearTimeout(timer);
        }
      },
    );
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = await deps.warehouse.query('SELECT 1 AS ok').then(
      () => true,
      () => false,
    );
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
  });
  return app;
}
