import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from '../logger.ts';
import { protectOperations } from './operations-guard.ts';
import { strictValidatorCompiler } from './strict-validation.ts';

/**
 * A bearer-token JSON API as the rules and query services serve it: OpenAPI at /docs, and
 * schemas that mean what they say (strictValidatorCompiler). Validation failures are a
 * 400 naming the field; other errors keep their status.
 */
export async function createApiServer(options: {
  title: string;
  description: string;
  logger: Logger;
  /** OPERATIONS_TOKENS: /metrics and /docs then require one. */
  operationsTokens: readonly string[] | undefined;
}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  });
  protectOperations(app, options.operationsTokens);
  app.setValidatorCompiler(strictValidatorCompiler());
  await app.register(swagger, {
    openapi: {
      info: { title: options.title, version: '1', description: options.description },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.setErrorHandler((error: { validation?: unknown; statusCode?: number; message: string }, _request, reply) => {
    if (error.validation) return reply.code(400).send({ error: 'bad_request', message: error.message });
    options.logger.error({ err: error.message }, 'request failed');
    return reply.code(error.statusCode ?? 500).send({ error: 'internal', message: error.message });
  });
  return app;
}
