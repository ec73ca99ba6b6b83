import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { maskPersonalData } from '../domain/privacy/personal-data.ts';
import { createApiServer } from '../lib/http/api-server.ts';
import { bearerToken, unauthorized } from '../lib/http/bearer.ts';
import type { Logger } from '../lib/logger.ts';
import type { Result } from '../lib/result.ts';
import type { RuleStore } from '../lib/rule-store/rule-store.ts';
import type { AdminError, RuleAdmin, RuleChange, RuleInput } from './admin/rule-admin.ts';
import { allows, type Caller, type Role } from './admin/tokens.ts';

export interface RulesServerDependencies {
  /** OPERATIONS_TOKENS: /metrics and /docs then require one. */
  readonly operationsTokens?: readonly string[] | undefined;
  readonly admin: RuleAdmin;
  readonly store: RuleStore;
  readonly tokens: ReadonlyMap<string, Caller>;
  /** The processors' member API, which holds member state (explain, dry run); absent when not configured. */
  readonly processors?: { readonly url: string; readonly token: string };
  readonly logger: Logger;
  readonly ready: () => Promise<boolean>;
}

const STATUS: Record<AdminError['kind'], number> = { invalid: 422, not_found: 404, conflict: 409, unavailable: 503 };

const RULE_ID = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,63}$', description: 'lower-case letters, digits, _ and -, at most 64' } as const;
const idParams = { type: 'object', required: ['id'], properties: { id: RULE_ID } } as const;
const ruleFields = {
  name: { type: 'string', minLength: 1, maxLength: 200 },
  description: { type: 'string', maxLength: 2000 },
  condition: { description: 'JSON-logic over the member context (docs/rules.md)' },
} as const;
const triggerFields = {
  on: {
    type: 'object',
    description:
      'What sets the trigger off, one of: {"event": name}, {"sequence": {start, cancel, withinMinutes, key?}}, {"segment": id, "change": "entered"|"exited"}, {"lifecycle": stage}, {"calendar": {kind: birthday|monthly|weekly, hour, day?, weekday?}}',
  },
  businessLine: { type: 'string', minLength: 1, maxLength: 100 },
  audience: { type: 'string', description: 'the segment the campaign targets (conflict checks)' },
  schedule: {
    type: 'object',
    additionalProperties: false,
    properties: { from: { type: 'integer', description: 'epoch ms' }, to: { type: 'integer', description: 'epoch ms' } },
  },
  controls: {
    type: 'object',
    additionalProperties: false,
    properties: {
      cooldownMinutes: { type: 'integer', minimum: 1 },
      maxFires: {
        type: 'object',
        additionalProperties: false,
        required: ['count', 'windowDays'],
        properties: { count: { type: 'integer', minimum: 1 }, windowDays: { type: 'integer', minimum: 1, maximum: 365 } },
      },
      quietHours: {
        type: 'object',
        additionalProperties: false,
        required: ['start', 'end', 'mode'],
        properties: { start: { type: 'string' }, end: { type: 'string' }, mode: { type: 'string', enum: ['defer', 'drop'] } },
      },
      maxOutstandingCoupons: { type: 'integer', minimum: 0 },
      holdoutPercent: { type: 'number', minimum: 0, maximum: 100 },
      marketing: { type: 'boolean' },
      channel: {
        type: 'string',
        pattern: '^[a-z][a-z0-9_]{0,31}$',
        description: 'sms, email, push, wechat ...: members whose <channel>_opt_out trait says yes are not sent it',
      },
    },
  },
} as const;
const computedField = {
  type: 'object',
  description: 'computed traits: {event, property?, aggregate: count|sum|min|max|first|last|unique_count, windowDays}; condition filters the events (event.*)',
} as const;
const ruleBody = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'kind', 'name', 'condition'],
  properties: {
    id: RULE_ID,
    kind: { type: 'string', enum: ['segment', 'trigger', 'computed_trait'] },
    ...ruleFields,
    ...triggerFields,
    computed: computedField,
    active: { type: 'boolean', default: false },
  },
} as const;
const expectedVersion = { type: 'integer', minimum: 0, description: 'refuse the change (409) unless the rule is still at this version' } as const;

/** The rules admin API: rules, their versions, validation and the audit log, behind bearer tokens with roles. */
export async function buildRulesServer(deps: RulesServerDependencies): Promise<FastifyInstance> {
  const app = await createApiServer({
    title: 'segstream rules',
    description:
      'Segment rules, trigger rules and computed traits: create, validate, version, activate, restore, audit, backfill progress. Roles: viewer < editor < admin.',
    logger: deps.logger,
    operationsTokens: deps.operationsTokens,
  });

  /** The caller, if its token allows `role`; otherwise the reply is sent. */
  const callerFor = (request: FastifyRequest, reply: FastifyReply, role: Role): Caller | undefined => {
    const token = bearerToken(request.headers.authorization);
    const caller = token === undefined ? undefined : deps.tokens.get(token);
    if (!caller) {
      void reply.code(401).send(unauthorized('RULES_API_TOKENS'));
      return undefined;
    }
    if (!allows(caller, role)) {
      void reply.code(403).send({ error: 'forbidden', message: `this needs the ${role} role; ${caller.name} is ${caller.role}` });
      return undefined;
    }
    return caller;
  };
  const respond = <T>(reply: FastifyReply, result: Result<T, AdminError>, status = 200) => {
    if (result.ok) return reply.code(status).send(result.value);
    const { kind, ...rest } = result.error;
    return reply.code(STATUS[kind]).send({ error: kind, ...rest });
  };
  const route = (summary: string, role: Role, extra: Record<string, unknown> = {}) => ({
    schema: { summary: `${summary} (${role})`, tags: ['rules'], security: [{ bearer: [] }], ...extra },
  });

  app.get('/rules', route('Every rule, current versions', 'viewer'), async (request, reply) => {
    if (!callerFor(request, reply, 'viewer')) return;
    return deps.store.list();
  });
  app.get('/rules/:id', route('One rule, current version', 'viewer', { params: idParams }), async (request, reply) => {
    if (!callerFor(request, reply, 'viewer')) return;
    const { id } = request.params as { id: string };
    const rule = await deps.store.get(id);
    return rule ? rule : reply.code(404).send({ error: 'not_found', message: `no rule with id "${id}"` });
  });
  app.get('/rules/:id/versions', route('Every version a rule had, oldest first', 'viewer', { params: idParams }), async (request, reply) => {
    if (!callerFor(request, reply, 'viewer')) return;
    const { id } = request.params as { id: string };
    const versions = await deps.store.versions(id);
    return versions.length > 0 ? versions : reply.code(404).send({ error: 'not_found', message: `no rule with id "${id}" ever existed` });
  });
  app.get(
    '/rules/:id/backfill',
    route('Progress of computing the current version of an active segment rule for every existing member', 'viewer', { params: idParams }),
    async (request, reply) => {
      if (!callerFor(request, reply, 'viewer')) return;
      const { id } = request.params as { id: string };
      const progress = await deps.store.backfill(id);
      return progress
        ? progress
        : reply.code(404).send({ error: 'not_found', message: `no backfill of "${id}" has started (one starts when a segment rule is activated)` });
    },
  );
  app.post('/rules/validate', route('Check a rule without saving it: problems with their JSON path', 'viewer', { body: ruleBody }), async (request, reply) => {
    if (!callerFor(request, reply, 'viewer')) return;
    const body = request.body as RuleInput;
    const result = await deps.admin.validate(body, body.active ? 'active' : 'stored');
    if (result.ok) return { valid: true, problems: [], ...result.value };
    if (result.error.kind !== 'invalid') return respond(reply, result);
    return { valid: false, problems: result.error.problems };
  });
  app.post('/rules', route('Create a rule (version 1, or the next after a deleted one)', 'editor', { body: ruleBody }), async (request, reply) => {
    const caller = callerFor(request, reply, 'editor');
    if (!caller) return;
    return respond(reply, await deps.admin.create(request.body as RuleInput, caller.name), 201);
  });
  app.put(
    '/rules/:id',
    route('Change a rule: a new version', 'editor', {
      params: idParams,
      body: {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        properties: { ...ruleFields, ...triggerFields, computed: computedField, expectedVersion },
      },
    }),
    async (request, reply) => {
      const caller = callerFor(request, reply, 'editor');
      if (!caller) return;
      return respond(reply, await deps.admin.update((request.params as { id: string }).id, request.body as RuleChange, caller.name));
    },
  );
  for (const [action, active] of [
    ['activate', true],
    ['deactivate', false],
  ] as const)
    app.post(
      `/rules/:id/${action}`,
      route(`${action === 'activate' ? 'Activate' : 'Deactivate'} a rule: a new version; processors apply it within a second`, 'editor', {
        params: idParams,
        body: { type: 'object', additionalProperties: false, properties: { expectedVersion } },
      }),
      async (request, reply) => {
        const caller = callerFor(request, reply, 'editor');
        if (!caller) return;
        const { expectedVersion: expected } = (request.body ?? {}) as { expectedVersion?: number };
        return respond(reply, await deps.admin.setActive((request.params as { id: string }).id, active, caller.name, expected));
      },
    );
  app.post(
    '/rules/:id/restore',
    route('Make an earlier version current again, as a new version', 'editor', {
      params: idParams,
      body: { type: 'object', additionalProperties: false, required: ['version'], properties: { version: { type: 'integer', minimum: 1 } } },
    }),
    async (request, reply) => {
      const caller = callerFor(request, reply, 'editor');
      if (!caller) return;
      return respond(reply, await deps.admin.restore((request.params as { id: string }).id, (request.body as { version: number }).version, caller.name));
    },
  );
  app.delete('/rules/:id', route('Delete a rule (its versions and audit entries stay)', 'admin', { params: idParams }), async (request, reply) => {
    const caller = callerFor(request, reply, 'admin');
    if (!caller) return;
    const result = await deps.admin.remove((request.params as { id: string }).id, caller.name);
    return result.ok ? reply.code(204).send() : respond(reply, result);
  });
  app.get(
    '/audit',
    route('The append-only audit log: who changed what, when, before and after', 'admin', {
      querystring: { type: 'object', properties: { ruleId: RULE_ID, limit: { type: 'integer', minimum: 1, maximum: 10_000 } } },
    }),
    async (request, reply) => {
      if (!callerFor(request, reply, 'admin')) return;
      return deps.store.audit(request.query as { ruleId?: string; limit?: number });
    },
  );
  /**
   * Forwards to the processors' member API and relays its answer; to a viewer with personal
   * data masked (docs/privacy.md): a viewer may see why a member matched, not who they are.
   */
  const forward = async (reply: FastifyReply, caller: Caller, path: string, body?: unknown) => {
    if (!deps.processors)
      return reply
        .code(503)
        .send({ error: 'unavailable', message: 'explain and dry run need the processors: set RULES_PROCESSOR_URL and RULES_PROCESSOR_TOKEN' });
    const response = await fetch(`${deps.processors.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${deps.processors.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).catch((error: unknown) => error as Error);
    if (response instanceof Error) return reply.code(502).send({ error: 'unavailable', message: `the processors did not answer: ${response.message}` });
    const answer: unknown = await response.json();
    return reply.code(response.status).send(allows(caller, 'editor') ? answer : maskPersonalData(answer));
  };
  app.get(
    '/rules/:id/explain',
    route(
      'Why a member is or is not matched by a rule: every part, whether it held, the values used (answered by the processors; a viewer asks by member id and sees personal data masked)',
      'viewer',
      {
        params: idParams,
        querystring: {
          type: 'object',
          required: ['kind', 'value'],
          properties: { kind: { type: 'string', minLength: 1 }, value: { type: 'string', minLength: 1 }, version: { type: 'integer', minimum: 1 } },
        },
      },
    ),
    async (request, reply) => {
      const caller = callerFor(request, reply, 'viewer');
      if (!caller) return;
      const { id } = request.params as { id: string };
      const { kind, value, version } = request.query as { kind: string; value: string; version?: number };
      // A viewer asking by phone, email or user id would learn whether that person is a member.
      if (kind !== 'member' && !allows(caller, 'editor'))
        return reply.code(403).send({
          error: 'forbidden',
          message: `kind: a viewer explains by member id only (kind=member); received kind=${kind}, which needs the editor role`,
        });
      const query = new URLSearchParams({ kind, value, rule: id, ...(version ? { version: String(version) } : {}) });
      return forward(reply, caller, `/members/explain?${query}`);
    },
  );
  app.post(
    '/rules/dry-run',
    route('How many members a segment condition would match now, with a sample (answered by the processors)', 'viewer', {
      body: {
        type: 'object',
        required: ['condition'],
        additionalProperties: false,
        properties: {
          condition: ruleFields.condition,
          sample: { type: 'integer', minimum: 0, maximum: 100, default: 10 },
          limit: { type: 'integer', minimum: 1 },
        },
      },
    }),
    async (request, reply) => {
      const caller = callerFor(request, reply, 'viewer');
      if (!caller) return;
      return forward(reply, caller, '/segments/dry-run', request.body);
    },
  );
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = await deps.ready();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
  });
  return app;
}
