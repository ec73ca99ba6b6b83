import type { FastifyInstance } from 'fastify';
import { bearerToken, unauthorized } from '../http/bearer.ts';
import { strictValidatorCompiler } from '../http/strict-validation.ts';
import type { Logger } from '../logger.ts';
import { registerAnalysisRoutes } from './routes.ts';
import type { AnalysisRunner } from './runner.ts';

/** Where a warehouse owner serves analyses: POST <prefix>/<analysis name>, and GET <prefix>/ready. */
export const WAREHOUSE_ANALYSES_PREFIX = '/warehouse/analyses';

export interface WarehouseRoutesOptions {
  readonly runner: AnalysisRunner;
  /** Bearer tokens of the processes allowed to ask, and the variable that lists them. */
  readonly tokens: readonly string[];
  readonly tokensVariable: string;
  readonly timeoutMs: number;
  readonly timeoutVariable: string;
  readonly logger: Logger;
}

/**
 * Lets other processes (the query service) read the warehouse this process owns, as
 * embedded ClickHouse admits one process per data directory. They name an analysis of the
 * catalogue and send its request, which is validated here as on the query API; the SQL
 * is built here and runs read-only within this process's own limits. No route takes SQL.
 */
export async function registerWarehouseRoutes(app: FastifyInstance, options: WarehouseRoutesOptions): Promise<void> {
  await app.register(async (scope) => {
    scope.setValidatorCompiler(strictValidatorCompiler());
    scope.setErrorHandler((error: { validation?: unknown; statusCode?: number; message: string }, _request, reply) => {
      if (error.validation) return reply.code(400).send({ error: 'bad_request', message: error.message });
      options.logger.error({ err: error.message }, 'warehouse request failed');
      return reply.code(error.statusCode ?? 500).send({ error: 'internal', message: 'the request failed; the service log has the cause' });
    });
    scope.addHook('onRequest', async (request, reply) => {
      const token = bearerToken(request.headers.authorization);
      if (token === undefined || !options.tokens.includes(token)) return reply.code(401).send(unauthorized(options.tokensVariable));
    });
    registerAnalysisRoutes(scope, {
      prefix: WAREHOUSE_ANALYSES_PREFIX,
      tag: 'warehouse',
      runner: options.runner,
      timeoutMs: options.timeoutMs,
      timeoutVariable: options.timeoutVariable,
      logger: options.logger,
    });
    scope.get(
      `${WAREHOUSE_ANALYSES_PREFIX}/ready`,
      { schema: { summary: 'Whether analyses can run on the warehouse this process owns', tags: ['warehouse'], security: [{ bearer: [] }] } },
      async (_request, reply) => {
        const ready = await options.runner.probe().then(
          () => true,
          () => false,
        );
        return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
      },
    );
  });
}
