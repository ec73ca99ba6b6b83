import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import { memberView } from '../domain/member/member-view.ts';
import type { RfmConfig } from '../domain/member/rfm.ts';
import type { Clock } from '../lib/clock.ts';
import { errorMessage } from '../lib/errors.ts';
import { bearerToken, unauthorized } from '../lib/http/bearer.ts';
import { protectOperations } from '../lib/http/operations-guard.ts';
import type { Logger } from '../lib/logger.ts';
import type { IdentityResolver } from './identity/resolver.ts';
import type { ProcessorMetrics } from './metrics.ts';
import type { RulesInspector } from './rules-inspector.ts';
import type { LoadedMember, MemberStore } from './store/member-store.ts';

export interface LookupDependencies {
  readonly tokens: readonly string[];
  readonly identityKinds: readonly string[];
  readonly resolver: IdentityResolver;
  readonly store: MemberStore;
  /** A member's latest events, newest first, from the history service (absent: not configured). */
  readonly latestEvents?: (members: readonly string[], limit: number) => Promise<unknown[]>;
  readonly clock: Clock;
  readonly windowsDays: readonly number[];
  readonly rfm: RfmConfig;
  readonly metrics: ProcessorMetrics;
  readonly inspector: RulesInspector;
  readonly logger: Logger;
  readonly ready: () => Promise<boolean>;
  /** OPERATIONS_TOKENS: /metrics and /docs then require one. */
  readonly operationsTokens?: readonly string[] | undefined;
}

/** Member lookup by any identity, plus health and metrics. */
export async function buildProcessorServer(deps: LookupDependencies): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: deps.logger as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) });
  protectOperations(app, deps.operationsTokens);
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'segstream processors',
        version: '1',
        description:
          'Member lookup (state, counters, RFM, lifecycle, segments, and latest events from the history service), explain a rule for a member, dry-run a segment condition.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  const kinds = ['member', ...deps.identityKinds];

  const authorized = (request: FastifyRequest, reply: FastifyReply): boolean => {
    const token = bearerToken(request.headers.authorization);
    if (token && deps.tokens.includes(token)) return true;
    void reply.code(401).send(unauthorized('PROCESSOR_API_TOKENS'));
    return false;
  };
  /** The member an identity names, or undefined with the reply sent (404, or 301 to the member it merged into). */
  const memberFor = async (kind: string, value: string, reply: FastifyReply): Promise<LoadedMember | undefined> => {
    const memberId = kind === 'member' ? value : await deps.resolver.memberOf(kind, value);
    if (!memberId) return void reply.code(404).send({ error: 'not_found', message: `no member has this ${kind}` });
    const loaded = (await deps.store.load([{ memberId, messageIds: [] }])).get(memberId);
    if (!loaded || loaded.state.version === 0) return void reply.code(404).send({ error: 'not_found', message: `member ${memberId} has no state` });
    if (loaded.mergedInto)
      return void reply.code(301).send({ error: 'merged', message: `member ${memberId} was merged into ${loaded.mergedInto}`, mergedInto: loaded.mergedInto });
    return loaded;
  };
  const identity = { kind: { type: 'string', enum: kinds }, value: { type: 'string', minLength: 1 } } as const;

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
            ...identity,
            events: { type: 'integer', minimum: 0, maximum: 200, default: 20 },
            at: { type: 'integer', minimum: 0, description: 'show windows, RFM and lifecycle as of this time (epoch milliseconds; default now)' },
          },
        },
      },
    },
    async (request, reply) => {
      if (!authorized(request, reply)) return;
      const { kind, value, events, at } = request.query as { kind: string; value: string; events: number; at?: number };
      const loaded = await memberFor(kind, value, reply);
      if (!loaded) return;
      const members = [loaded.state.memberId, ...loaded.state.mergedFrom];
      // History is another service's: the member is answered without its events when that service cannot be asked.
      let latestEvents: unknown[] | null = null;
      let latestEventsNote: string | undefined;
      if (!deps.latestEvents) latestEventsNote = 'not asked for: PROCESSOR_HISTORY_URL is not set';
      else if (events > 0)
        try {
          latestEvents = await deps.latestEvents(members, events);
        } catch (error) {
          deps.logger.warn({ err: errorMessage(error) }, "a member's latest events could not be read from the history service");
          latestEventsNote = 'the history service could not be asked; the processor log has the reason';
        }
      else latestEvents = [];
      return {
        member: memberView(loaded.state, at ?? deps.clock.now(), deps.windowsDays, deps.rfm),
        identities: loaded.state.identities.map((i) => ({ kind: i.slice(0, i.indexOf(':')), hash: i.slice(i.indexOf(':') + 1) })),
        mergedFrom: loaded.state.mergedFrom,
        latestEvents,
        ...(latestEventsNote === undefined ? {} : { latestEventsNote }),
      };
    },
  );
  app.get(
    '/members/explain',
    {
      schema: {
        summary: 'Why a member is or is not in a segment: every part of the rule, whether it held, and the values used',
        tags: ['rules'],
        security: [{ bearer: [] }],
        querystring: {
          type: 'object',
          required: ['kind', 'value', 'rule'],
          properties: { ...identity, rule: { type: 'string', minLength: 1 }, version: { type: 'integer', minimum: 1 } },
        },
      },
    },
    async (request, reply) => {
      if (!authorized(request, reply)) return;
      const { kind, value, rule, version } = request.query as { kind: string; value: string; rule: string; version?: number };
      const loaded = await memberFor(kind, value, reply);
      if (!loaded) return;
      const result = await deps.inspector.explain(loaded, rule, version);
      if (result.ok) return result.value;
      const { kind: error, ...rest } = result.error;
      return reply.code(error === 'not_found' ? 404 : 422).send({ error, ...rest });
    },
  );
  app.post(
    '/segments/dry-run',
    {
      schema: {
        summary: 'How many members a segment condition would match now, with a sample, without activating anything',
        tags: ['rules'],
        security: [{ bearer: [] }],
        body: {
          type: 'object',
          required: ['condition'],
          additionalProperties: false,
          properties: {
            condition: { description: 'JSON-logic over the member context (docs/rules.md)' },
            sample: { type: 'integer', minimum: 0, maximum: 100, default: 10 },
            limit: { type: 'integer', minimum: 1, description: 'look at no more than this many members' },
          },
        },
      },
    },
    async (request, reply) => {
      if (!authorized(request, reply)) return;
      const { condition, sample, limit } = request.body as { condition: unknown; sample: number; limit?: number };
      const result = await deps.inspector.dryRun(condition, { sample, limit });
      if (result.ok) return result.value;
      const { kind: error, ...rest } = result.error;
      return reply.code(422).send({ error, ...rest });
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
