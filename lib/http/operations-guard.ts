import type { FastifyInstance } from 'fastify';
import { bearerToken, unauthorized } from './bearer.ts';

/** Paths of a service's operations surface: Prometheus metrics and the OpenAPI document and UI. */
const isOperationsPath = (url: string): boolean => {
  const path = url.split('?')[0] ?? url;
  return path === '/metrics' || path === '/docs' || path.startsWith('/docs/');
};

/**
 * With tokens configured (OPERATIONS_TOKENS), /metrics and /docs answer only requests that
 * bear one of them (Prometheus sends one with `authorization` in its scrape config); without,
 * they stay open, as on a private network. Health and readiness stay open for probes.
 */
export function protectOperations(app: FastifyInstance, tokens: readonly string[] | undefined): void {
  if (!tokens || tokens.length === 0) return;
  app.addHook('onRequest', async (request, reply) => {
    if (!isOperationsPath(request.url)) return;
    const token = bearerToken(request.headers.authorization);
    if (token === undefined || !tokens.includes(token)) return reply.code(401).send(unauthorized('OPERATIONS_TOKENS'));
  });
}
