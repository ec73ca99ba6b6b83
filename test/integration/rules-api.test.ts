import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_COUNTERS, DEFAULT_WINDOWS_DAYS } from '../../domain/member/counters.ts';
import { ManualClock } from '../../lib/clock.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRedis } from '../../lib/redis.ts';
import { RuleStore } from '../../lib/rule-store/rule-store.ts';
import { RuleAdmin } from '../../rules/admin/rule-admin.ts';
import { tokenTable } from '../../rules/admin/tokens.ts';
import { buildRulesServer } from '../../rules/server.ts';

const redis = createRedis(inject('services').redisUrl);
const TOKENS = tokenTable(['ann:admin:admin-token-0001', 'ed:editor:editor-token-0001', 'vic:viewer:viewer-token-0001']);
const auth = (who: 'admin' | 'editor' | 'viewer') => ({ authorization: `Bearer ${who}-token-0001` });

async function server(options: { registered?: boolean } = {}): Promise<{ app: FastifyInstance; clock: ManualClock }> {
  const store = new RuleStore(redis, `api${Date.now()}${Math.random().toString(36).slice(2, 6)}:`);
  if (options.registered !== false)
    await store.registerEnvironment({ counters: DEFAULT_COUNTERS.map((c) => c.name), windowsDays: DEFAULT_WINDOWS_DAYS, computedTraits: new Map() });
  const clock = new ManualClock(new Date('2026-11-23T10:00:00Z'));
  const app = await buildRulesServer({
    admin: new RuleAdmin(store, clock),
    store,
    tokens: TOKENS,
    logger: createLogger({ service: 'test', level: 'silent' }),
    ready: async () => true,
  });
  return { app, clock };
}

const segment = (id: string, condition: unknown, extra: Record<string, unknown> = {}) => ({ id, kind: 'segment', name: id, condition, ...extra });

beforeAll(() => redis.connect());
afterAll(() => redis.quit());

describe('rules admin API (needs Redis)', () => {
  it('names the JSON path, the operator or variable, and what is wrong, for every kind of validation error', async () => {
    const { app } = await server();
    const create = (body: unknown) => app.inject({ method: 'POST', url: '/rules', headers: auth('editor'), payload: body as object });
    const problems = async (condition: unknown) => {
      const response = await create(segment('r1', condition));
      expect(response.statusCode).toBe(422);
      expect(response.json().error).toBe('invalid');
      return response.json().problems as { path: string; operator?: string; variable?: string; message: string }[];
    };
    expect(await problems({ and: [true, { regex: ['a', 'b'] }] })).toEqual([
      expect.objectContaining({ path: 'condition.and[1].regex', operator: 'regex', message: expect.stringContaining('unknown operator "regex"') }),
    ]);
    expect(await problems({ '!': [1, 2] })).toEqual([{ path: 'condition.!', operator: '!', message: '"!" takes 1 argument, received 2' }]);
    expect(await problems({ '>': [{ var: 'orders.totl' }, 1] })).toEqual([
      expect.objectContaining({ path: 'condition.>[0].var[0]', variable: 'orders.totl', message: expect.stringContaining('unknown variable "orders.totl"') }),
    ]);
    expect(await problems({ '<': [{ var: 'rfm.group' }, 5] })).toEqual([
      expect.objectContaining({ path: 'condition.<', variable: 'rfm.group', message: '"<" compares rfm.group (a string) with 5 (a number)' }),
    ]);
    expect((await problems({ '==': [{ var: 'lifecycle.stage' }, 'vip'] }))[0]?.message).toMatch(/"vip" is not a value of lifecycle.stage/);
    expect((await problems({ in_segment: 'nobody' }))[0]?.message).toBe('unknown segment "nobody"; known segments: r1');
    expect((await problems({ '>': [{ counter: ['orders', 0] }, 1] }))[0]?.path).toBe('condition.>[0].counter[1]');
    // The request itself malformed: 400 naming the field.
    const bad = await create({ id: 'Bad Id', kind: 'segment', name: 'x', condition: true });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/body\/id must match pattern/);
    // Validate without saving.
    const check = await app.inject({ method: 'POST', url: '/rules/validate', headers: auth('viewer'), payload: segment('v', { '>': [{ var: 'nope' }, 1] }) });
    expect(check.json()).toMatchObject({ valid: false, problems: [{ variable: 'nope' }] });
    // Traits are free-form, so comparing one with anything is accepted.
    const free = await app.inject({
      method: 'POST',
      url: '/rules/validate',
      headers: auth('viewer'),
      payload: segment('v', { '>=': [{ var: 'traits.age' }, 30] }),
    });
    expect(free.json().valid).toBe(true);
    const fine = await app.inject({
      method: 'POST',
      url: '/rules/validate',
      headers: auth('viewer'),
      payload: segment('v', { '>': [{ var: 'orders.count' }, 1] }),
    });
    expect(fine.json()).toEqual({ valid: true, problems: [], inputs: ['orders'], timeDependent: false });
  });

  it('refuses rules when no processor has told which counters exist', async () => {
    const { app } = await server({ registered: false });
    const response = await app.inject({ method: 'POST', url: '/rules', headers: auth('editor'), payload: segment('a', true) });
    expect(response.statusCode).toBe(503);
    expect(response.json().message).toMatch(/no processor has started/);
  });

  it('versions every change, restores any version, refuses stale writes, and audits who did what', async () => {
    const { app, clock } = await server();
    const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, who: 'admin' | 'editor' | 'viewer', payload?: object) =>
      app.inject({ method, url, headers: auth(who), ...(payload ? { payload } : {}) });

    let response = await call('POST', '/rules', 'editor', segment('buyers', { '>=': [{ var: 'orders.count' }, 1] }));
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({ id: 'buyers', version: 1, active: false, updatedBy: 'ed' });
    expect((await call('POST', '/rules', 'editor', segment('buyers', true))).statusCode).toBe(409);
    clock.advance(1000);
    response = await call('PUT', '/rules/buyers', 'editor', { condition: { '>=': [{ var: 'orders.count' }, 2] }, expectedVersion: 1 });
    expect(response.json()).toMatchObject({ version: 2, condition: { '>=': [{ var: 'orders.count' }, 2] } });
    response = await call('PUT', '/rules/buyers', 'editor', { name: 'stale', expectedVersion: 1 });
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ error: 'conflict', currentVersion: 2 });
    expect((await call('POST', '/rules/buyers/activate', 'editor', {})).json()).toMatchObject({ version: 3, active: true });
    response = await call('POST', '/rules/buyers/restore', 'editor', { version: 1 });
    expect(response.json()).toMatchObject({ version: 4, active: true, condition: { '>=': [{ var: 'orders.count' }, 1] } });
    expect((await call('GET', '/rules/buyers/versions', 'viewer')).json().map((v: { version: number }) => v.version)).toEqual([1, 2, 3, 4]);

    // Segments that read each other: an active reader blocks deactivation; a cycle cannot be activated.
    expect((await call('POST', '/rules', 'editor', segment('fans', { '>=': [{ var: 'orders.count' }, 3] }, { active: true }))).statusCode).toBe(201);
    response = await call('POST', '/rules', 'editor', segment('loyal', { and: [{ in_segment: 'buyers' }, { in_segment: 'fans' }] }, { active: true }));
    expect(response.statusCode).toBe(201);
    response = await call('PUT', '/rules/fans', 'editor', { condition: { in_segment: 'loyal' } });
    expect(response.statusCode).toBe(422);
    expect(response.json().message).toBe('segments would read each other in a cycle: fans -> loyal -> fans');
    response = await call('POST', '/rules/buyers/deactivate', 'editor', {});
    expect(response.statusCode).toBe(409);
    expect(response.json().message).toBe('active rules read "buyers": loyal; deactivate or change them first');

    // Roles: viewers read, editors change, only admins delete and read the audit log.
    expect((await call('POST', '/rules', 'viewer', segment('x', true))).statusCode).toBe(403);
    expect((await call('DELETE', '/rules/fans', 'editor')).statusCode).toBe(403);
    expect((await call('GET', '/audit', 'editor')).json()).toMatchObject({ error: 'forbidden', message: 'this needs the admin role; ed is editor' });
    expect((await app.inject({ method: 'GET', url: '/rules' })).statusCode).toBe(401);
    expect((await call('DELETE', '/rules/fans', 'admin')).statusCode).toBe(409); // loyal reads it
    await call('POST', '/rules/loyal/deactivate', 'editor', {});
    expect((await call('DELETE', '/rules/fans', 'admin')).statusCode).toBe(204);
    expect((await call('GET', '/rules/fans', 'viewer')).statusCode).toBe(404);
    expect((await call('GET', '/rules/fans/versions', 'viewer')).json()).toHaveLength(1);

    const audit = (await call('GET', '/audit?ruleId=buyers', 'admin')).json() as {
      actor: string;
      action: string;
      before: { version: number } | null;
      after: { version: number } | null;
    }[];
    expect(audit.map((a) => `${a.actor} ${a.action} ${a.before?.version ?? '-'}->${a.after?.version ?? '-'}`)).toEqual([
      'ed create -->1',
      'ed update 1->2',
      'ed activate 2->3',
      'ed restore version 1 3->4',
    ]);
    // Query-string numbers arrive as text and are read as the numbers their schema names.
    const latest = (await call('GET', '/audit?ruleId=buyers&limit=2', 'admin')).json() as { action: string }[];
    expect(latest.map((a) => a.action)).toEqual(['activate', 'restore version 1']);
    expect((await call('GET', '/audit?limit=zero', 'admin')).json().message).toMatch(/querystring\/limit must be integer/);
    const all = (await call('GET', '/audit', 'admin')).json() as { action: string; ruleId: string }[];
    expect(all.at(-1)).toMatchObject({ action: 'delete', ruleId: 'fans', after: null });
  });

  it('checks triggers: pattern and controls errors by path; conflicting active triggers are refused naming the other', async () => {
    const { app } = await server();
    const create = (body: object) => app.inject({ method: 'POST', url: '/rules', headers: auth('editor'), payload: body });
    expect((await create(segment('silent_buyers', { '==': [{ var: 'lifecycle.stage' }, 'silent'] }, { active: true }))).statusCode).toBe(201);
    const trigger = (id: string, extra: object) => ({ id, kind: 'trigger', name: id, condition: true, businessLine: 'apparel', ...extra });
    let response = await create(trigger('bad', { on: { sequence: { start: 'Product Added', withinMinutes: 0 } } }));
    expect(response.statusCode).toBe(422);
    expect(response.json().problems.map((p: { path: string }) => p.path)).toEqual(['on.sequence.cancel', 'on.sequence.withinMinutes']);
    response = await create(
      trigger('bad', { on: { segment: 'silent_buyer', change: 'entered' }, controls: { quietHours: { start: '22:00', end: '8', mode: 'defer' } } }),
    );
    expect(response.json().problems).toEqual([
      { path: 'on.segment', message: 'unknown segment "silent_buyer"; known segments: silent_buyers' },
      { path: 'controls.quietHours.end', message: 'expected HH:MM; received "8"' },
    ]);
    response = await create(trigger('bad', { on: { event: 'Order Completed' }, controls: { holdoutPercent: 120 } }));
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toMatch(/holdoutPercent must be <= 100/);
    response = await create(
      trigger('bad', { on: { event: 'Order Completed' }, condition: { '>': [{ var: 'event.properties.total' }, { var: 'event.nope' }] } }),
    );
    expect(response.json().problems[0]).toMatchObject({ variable: 'event.nope' });

    const day = 86_400_000;
    const winBack = { on: { segment: 'silent_buyers', change: 'entered' }, active: true, schedule: { from: 0, to: 10 * day } };
    expect((await create(trigger('win_back', winBack))).statusCode).toBe(201);
    response = await create(trigger('win_back_2', { ...winBack, schedule: { from: 5 * day, to: 20 * day } }));
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({
      error: 'conflict',
      conflictingRule: 'win_back',
      message: expect.stringContaining('conflicts with active trigger "win_back"'),
    });
    // Another business line, or a later schedule, or inactive: no conflict.
    expect((await create(trigger('win_back_shoes', { ...winBack, businessLine: 'shoes' }))).statusCode).toBe(201);
    expect((await create(trigger('win_back_later', { ...winBack, schedule: { from: 10 * day, to: 20 * day } }))).statusCode).toBe(201);
    expect((await create(trigger('win_back_draft', { ...winBack, active: false }))).statusCode).toBe(201);
    expect((await app.inject({ method: 'POST', url: '/rules/win_back_draft/activate', headers: auth('editor'), payload: {} })).statusCode).toBe(409);
    // A segment that triggers listen to cannot be deactivated.
    response = await app.inject({ method: 'POST', url: '/rules/silent_buyers/deactivate', headers: auth('editor'), payload: {} });
    expect(response.json().message).toMatch(/active rules read "silent_buyers": win_back, win_back_later, win_back_shoes/);
  });

  it('computed traits: checked, then readable by segments', async () => {
    const { app } = await server();
    const create = (body: object) => app.inject({ method: 'POST', url: '/rules', headers: auth('editor'), payload: body });
    const trait = (computed: object) => ({ id: 'spend_30d', kind: 'computed_trait', name: 'spend', condition: true, computed });
    let response = await create(trait({ event: 'Order Completed', aggregate: 'median', windowDays: 400 }));
    expect(response.json().problems).toEqual([
      { path: 'computed.aggregate', message: 'expected one of count, sum, min, max, first, last, unique_count; received "median"' },
      { path: 'computed.windowDays', message: 'expected whole days from 1 to 365; received 400' },
    ]);
    response = await create(trait({ event: 'Order Completed', aggregate: 'sum', windowDays: 30 }));
    expect(response.json().problems).toEqual([{ path: 'computed.property', message: '"sum" needs the event property it aggregates' }]);
    expect((await create({ ...trait({ event: 'Order Completed', aggregate: 'sum', property: 'total', windowDays: 30 }), active: true })).statusCode).toBe(201);
    expect((await create(segment('spenders', { '>=': [{ var: 'computed.spend_30d' }, 100] }, { active: true }))).statusCode).toBe(201);
    expect((await create(segment('typo', { '>=': [{ var: 'computed.spend_31d' }, 100] }))).json().problems[0].message).toBe(
      'unknown variable "computed.spend_31d": known computed traits: spend_30d',
    );
    const blocked = await app.inject({ method: 'POST', url: '/rules/spend_30d/deactivate', headers: auth('editor'), payload: {} });
    expect(blocked.json().message).toMatch(/active rules read "spend_30d": spenders/);
  });

  it('serves its OpenAPI document at /docs', async () => {
    const { app } = await server();
    const spec = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining(['/rules', '/rules/{id}', '/rules/{id}/versions', '/rules/{id}/restore', '/audit', '/rules/validate']),
    );
  });
});
