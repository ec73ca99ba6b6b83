import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Warehouse } from '../lib/warehouse/warehouse.ts';
import type { IdentityResolver } from './identity/resolver.ts';
import { memberView } from './logic/member-view.ts';
import type { RfmConfig } from './logic/rfm.ts';
import type { ProcessorMetrics } from './metrics.ts';
import type { MemberStore } from './store/member-store.ts';

export interface LookupDependencies {
  readonly tokens: readonly string[];
  readonly identityKinds: readonly string[];
  readonly resolver: IdentityResolver;
  readonly store: MemberStore;
  readonly warehouse: Warehouse;
  readonly clock: Clock;
  readonly windowsDays: readonly number[];
  readonly rfm: RfmConfig;
  readonly metrics: ProcessorMetrics;
  readonly logger: Logger;
  readonly ready: () => Promise<boolean>;
}

/** Member lookup by any identity, plus health and metrics. */
export async function buildProcessorServer(deps: LookupDependencies): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: deps.logger as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'segstream processors',
        version: '1',
        description: 'Member lookup: state, counters, RFM, lifecycle, segments and latest events of a member.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  const kinds = ['member', ...deps.identityKinds];

  app.get(
    '/members/lookup',
    {
      schema: {
        summary: 'A member by any identity (user id, anonymous id, phone, email, OpenID, ...); personal identifiers are hashed before lookup',
        tags: ['members'],
        security: [{ bearer: [] }],
        querystring: {
          type: 'object',
          required: ['kind', 'value'],
          properties: {
            kind: { type: 'string', enum: kinds },
            value: { type: 'string', minLength: 1 },
            events: { type: 'integer', minimum: 0, maximum: 200, default: 20 },
          },
        },
      },
    },
    async (request, reply) => {
      const token = request.headers.authorization?.startsWith('Bearer ') ? request.headers.authorization.slice(7) : undefined;
      if (!token || !deps.tokens.includes(token))
        return reply.code(401).send({ error: 'unauthorized', message: 'Authorization: expected "Bearer <token>" with a token from PROCESSOR_API_TOKENS' });
      const { kind, value, events } = request.query as { kind: string; value: string; events: number };
      const memberId = kind === 'member' ? value : await deps.resolver.memberOf(kind, value);
      if (!memberId) return reply.code(404).send({ error: 'not_found', message: `no member has this ${kind}` });
      const loaded = (await deps.store.load([{ memberId, messageIds: [] }])).get(memberId);
      if (!loaded || loaded.state.version === 0) return reply.code(404).send({ error: 'not_found', message: `member ${memberId} has no state` });
      if (loaded.mergedInto)
        return reply.code(301).send({ error: 'merged', message: `member ${memberId} was merged into ${loaded.mergedInto}`, mergedInto: loaded.mergedInto });
      const members = [memberId, ...loaded.state.mergedFrom];
      const latest = await deps.warehouse.query(
        `SELECT message_id, type, event, name, ts, source, properties FROM events WHERE member_id IN {members:Array(String)}
         ORDER BY ts DESC LIMIT 1 BY message_id LIMIT {limit:UInt32}`,
        { members, limit: events },
      );
      return {
        member: memberView(loaded.state, deps.clock.now(), deps.windowsDays, deps.rfm),
        identities: loaded.state.identities.map((i) => ({ kind: i.slice(0, i.indexOf(':')), hash: i.slice(i.indexOf(':') + 1) })),
        mergedFrom: loaded.state.mergedFrom,
        latestEvents: latest,
      };
    },
  );
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = await deps.ready();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
  });
  app.get('/metrics', async (_request, reply) => reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()));
  return app;
}
