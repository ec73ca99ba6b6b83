import type { FastifyInstance } from 'fastify';
import { errorMessage } from '../errors.ts';
import { bearerToken, unauthorized } from '../http/bearer.ts';
import { WAREHOUSE_QUERY_PATH } from './remote.ts';
import type { Warehouse } from './warehouse.ts';

/**
 * Lets other processes read the warehouse this process owns (embedded ClickHouse admits
 * one process per data directory): POST {sql, params} with a bearer token, answered with
 * {rows}. The SQL runs as a subquery, so only a SELECT can run (no INSERT, DDL or INTO
 * OUTFILE); values stay bound parameters.
 */
export function registerWarehouseQueryRoute(app: FastifyInstance, deps: { readonly warehouse: Warehouse; readonly tokens: readonly string[] }): void {
  app.post(
    WAREHOUSE_QUERY_PATH,
    {
      schema: {
        summary: 'Run a read query on the ClickHouse this process owns (for the query service)',
        tags: ['warehouse'],
        security: [{ bearer: [] }],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['sql'],
          properties: { sql: { type: 'string', minLength: 1 }, params: { type: 'object', default: {} } },
        },
      },
    },
    async (request, reply) => {
      const token = bearerToken(request.headers.authorization);
      if (token === undefined || !deps.tokens.includes(token)) return reply.code(401).send(unauthorized('PROCESSOR_WAREHOUSE_TOKENS'));
      const { sql, params } = request.body as { sql: string; params: Record<string, unknown> };
      try {
        return { rows: await deps.warehouse.query(`SELECT * FROM (\n${sql}\n)`, params) };
      } catch (error) {
        return reply.code(400).send({ error: 'query_failed', message: errorMessage(error) });
      }
    },
  );
}
