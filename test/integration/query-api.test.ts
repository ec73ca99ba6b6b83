import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventRow } from '../../history/history-writer.ts';
import { ANALYSES } from '../../lib/analytics/catalog.ts';
import { funnelResult, funnelSql } from '../../lib/analytics/funnel.ts';
import { RemoteAnalysisRunner } from '../../lib/analytics/remote-runner.ts';
import { WarehouseAnalysisRunner } from '../../lib/analytics/runner.ts';
import { registerWarehouseRoutes } from '../../lib/analytics/warehouse-routes.ts';
import { createLogger } from '../../lib/logger.ts';
import type { Warehouse } from '../../lib/warehouse/warehouse.ts';
import { buildQueryServer } from '../../query/server.ts';
import { historyWarehouse } from '../harness/history-warehouse.ts';
import { testEvent } from '../harness/test-event.ts';

const DAY = 86_400_000;
const START = Date.UTC(2026, 4, 1);
const auth = { authorization: 'Bearer query-token' };
const LIMITS = { timeoutMs: 30_000, maxMemoryBytes: 1 << 30, configuredBy: { timeout: 'QUERY_TIMEOUT_MS', memory: 'QUERY_MAX_MEMORY_MB' } };
const logger = createLogger({ service: 'test', level: 'silent' });
let warehouse: Warehouse;
let app: FastifyInstance;
let slow: FastifyInstance;

beforeAll(async () => {
  warehouse = await historyWarehouse('query-api');
  const rows = [];
  for (let m = 0; m < 50; m++)
    for (const [i, event] of ['Viewed', 'Added', 'Order Completed'].entries())
      if (m % (i + 1) === 0)
        rows.push(
          eventRow(
            `m${m}`,
            testEvent(`m${m}-${i}`, START + m * 3_600_000 + i * 60_000, {
              userId: `m${m}`,
              event,
              properties: JSON.stringify({ total: 10 + m, plan: m % 2 ? 'pro' : 'basic' }),
            }),
          ),
        );
  await warehouse.insert('events', rows);
  const runner = new WarehouseAnalysisRunner(warehouse, LIMITS);
  app = await buildQueryServer({ runner, tokens: ['query-token'], timeoutMs: 30_000, logger });
  slow = await buildQueryServer({ runner, tokens: ['query-token'], timeoutMs: 1, logger });
}, 60_000);
afterAll(() => warehouse.close());

const post = (server: FastifyInstance, url: string, payload: object, headers: Record<string, string> = auth) =>
  server.inject({ method: 'POST', url, headers, payload });
const funnel = { steps: [{ event: 'Viewed' }, { event: 'Added' }, { event: 'Order Completed' }], windowSeconds: 3_600, from: START, to: START + 10 * DAY };

const day = { fromDay: '2026-05-01', toDay: '2026-05-04' };
/** A valid request for every analysis. */
const validRequests: [string, Record<string, unknown>][] = [
  ['/analyses/funnel', funnel],
  ['/analyses/retention', { period: 'day', periods: 3, from: START, to: START + 5 * DAY }],
  ['/analyses/attribution', { from: START, to: START + 5 * DAY, lookbackDays: 7 }],
  ['/analyses/paths', { anchor: 'Viewed', from: START, to: START + 5 * DAY }],
  ['/analyses/trends', { ...day, event: 'Order Completed', breakdown: { property: 'plan' } }],
  ['/analyses/lifecycle-sizes', day],
  ['/analyses/segment-sizes', day],
  ['/analyses/rfm', { at: START + 5 * DAY }],
  ['/analyses/ltv', { at: START + 5 * DAY, timeZone: 'Asia/Shanghai' }],
  ['/analyses/campaign', { ruleId: 'welcome', from: START, to: START + 5 * DAY, days: 7 }],
  ['/analyses/member-events', { members: ['m1', 'm2'], limit: 5 }],
];
/** What hostile or careless callers put in fields: huge and unsafe integers, wrong types, impossible days and zones. */
const HOSTILE_VALUES: unknown[] = [1e20, 2 ** 53 + 2, -1, 0, 1.5, 'x', '', ' ', null, true, {}, [], [1e20], '0000-00-00', '9999-99-99', 'Mars/Olympus'];

describe('query API (needs ClickHouse: a server when the harness has one, else embedded)', () => {
  it('answers a funnel exactly as the computation does', async () => {
    const response = await post(app, '/analyses/funnel', funnel);
    expect(response.statusCode).toBe(200);
    const request = { ...funnel, order: 'loose' as const };
    const { sql, params } = funnelSql(request);
    expect(response.json()).toEqual(funnelResult(request, await warehouse.query(sql, params)));
    // Everyone viewed, every second member added, every sixth also ordered after adding.
    expect(response.json()[0].steps.map((s: { members: number }) => s.members)).toEqual([50, 25, 9]);
  });

  it('serves every analysis', async () => {
    for (const [url, body] of validRequests) {
      const response = await post(app, url, body);
      expect(response.statusCode, `${url}: ${response.body}`).toBe(200);
    }
    expect((await post(app, '/analyses/rfm', { at: START + 5 * DAY })).json()).toMatchObject({ members: 17 });
    // After viewing: only adding (even, not multiples of 3) is the most frequent path.
    expect((await post(app, '/analyses/paths', { anchor: 'Viewed', from: START, to: START + 5 * DAY, steps: 2 })).json()[0]).toEqual({
      path: ['Added'],
      count: 16,
    });
  });

  it('says what is wrong: 401, 400 naming the field, 422 for values that do not fit together, 504 past the time limit', async () => {
    expect((await post(app, '/analyses/funnel', funnel, {})).statusCode).toBe(401);
    let response = await post(app, '/analyses/funnel', { ...funnel, steps: [{ event: 'Viewed' }] });
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toMatch(/body\/steps must NOT have fewer than 2 items/);
    response = await post(app, '/analyses/funnel', {
      ...funnel,
      steps: [{ event: 'Viewed', where: [{ property: 'plan', op: 'like', value: 'x' }] }, { event: 'Added' }],
    });
    expect(response.json().message).toMatch(/body\/steps\/0\/where\/0\/op must be equal to one of the allowed values/);
    response = await post(app, '/analyses/campaign', { ruleId: 'win_back', from: START, to: START + DAY, days: 0 });
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toMatch(/body\/days must be >= 1/);
    response = await post(app, '/analyses/funnel', { ...funnel, breakdown: { segment: '' } });
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toMatch(/body\/breakdown/);
    response = await post(app, '/analyses/funnel', { ...funnel, extra: 1 });
    expect(response.json().message).toMatch(/must NOT have additional properties/);
    response = await post(app, '/analyses/funnel', { ...funnel, to: START });
    expect(response.statusCode).toBe(422);
    expect(response.json().problems).toEqual([`to: must be after from (${START}), received ${START}`]);
    response = await post(app, '/analyses/retention', { period: 'week', periods: 4, from: START, to: START + DAY, timeZone: 'Mars/Olympus' });
    expect(response.json().problems).toEqual(['timeZone: expected an IANA time zone such as Asia/Shanghai, received "Mars/Olympus"']);
    response = await post(slow, '/analyses/funnel', funnel);
    expect(response.statusCode).toBe(504);
    expect(response.json().message).toMatch(/took longer than 1 ms \(QUERY_TIMEOUT_MS\)/);
  });

  it('answers 400 or 422, never 5xx, to a hostile value in any field of any analysis', async () => {
    expect(validRequests.map(([url]) => url.split('/').at(-1)).sort()).toEqual(ANALYSES.map((a) => a.name).sort());
    const answers = new Map<number, number>();
    for (const [url, body] of validRequests) {
      const analysis = ANALYSES.find((a) => url.endsWith(`/${a.name}`));
      if (!analysis) throw new Error(`no analysis serves ${url}`);
      const fields = Object.keys((analysis.body as { properties: Record<string, unknown> }).properties);
      for (const field of fields)
        for (const value of HOSTILE_VALUES) {
          const response = await post(app, url, { ...body, [field]: value });
          answers.set(response.statusCode, (answers.get(response.statusCode) ?? 0) + 1);
          expect(response.statusCode, `${url} ${field}=${JSON.stringify(value)}: ${response.body}`).toBeLessThan(500);
          if (response.statusCode >= 400) expect(response.json().message, `${url} ${field}=${JSON.stringify(value)}`).toMatch(field);
        }
    }
    // Most are refused; the rest are values that fit (e.g. 0 as a time, "x" as an event name).
    expect(answers.get(400)).toBeGreaterThan(0);
    expect(answers.get(422)).toBeGreaterThan(0);
  });

  it('serves its OpenAPI document at /docs', async () => {
    const spec = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining([
        '/analyses/funnel',
        '/analyses/retention',
        '/analyses/attribution',
        '/analyses/paths',
        '/analyses/trends',
        '/analyses/rfm',
        '/analyses/ltv',
        '/analyses/campaign',
      ]),
    );
    // With OPERATIONS_TOKENS the document wants one of them; health stays open.
    const guarded = await buildQueryServer({
      runner: new WarehouseAnalysisRunner(warehouse, LIMITS),
      tokens: ['query-token'],
      timeoutMs: 30_000,
      logger,
      operationsTokens: ['ops'],
    });
    expect((await guarded.inject({ method: 'GET', url: '/docs/json' })).statusCode).toBe(401);
    expect((await guarded.inject({ method: 'GET', url: '/docs/json', headers: auth })).statusCode).toBe(401);
    expect((await guarded.inject({ method: 'GET', url: '/docs/json', headers: { authorization: 'Bearer ops' } })).statusCode).toBe(200);
    expect((await guarded.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

describe('query API reading through the process that owns embedded ClickHouse (needs ClickHouse)', () => {
  it('answers as with direct access; the owner wants its token and takes analyses by name, never SQL', async () => {
    const owner = Fastify();
    await registerWarehouseRoutes(owner, {
      runner: new WarehouseAnalysisRunner(warehouse, LIMITS),
      tokens: ['owner-token'],
      tokensVariable: 'HISTORY_READ_TOKENS',
      timeoutMs: 30_000,
      timeoutVariable: 'HISTORY_READ_TIMEOUT_MS',
      logger,
    });
    const address = await owner.listen({ host: '127.0.0.1', port: 0 });
    try {
      const remote = new RemoteAnalysisRunner({ url: address, token: 'owner-token' });
      await remote.probe();
      const through = await buildQueryServer({ runner: remote, tokens: ['query-token'], timeoutMs: 30_000, logger });
      for (const body of [{ ...funnel, breakdown: { property: 'plan' } }, funnel]) {
        const direct = await post(app, '/analyses/funnel', body);
        const viaOwner = await post(through, '/analyses/funnel', body);
        expect(viaOwner.statusCode).toBe(200);
        expect(viaOwner.json()).toEqual(direct.json());
      }
      expect((await post(through, '/analyses/funnel', { ...funnel, to: START })).statusCode).toBe(422);

      await expect(new RemoteAnalysisRunner({ url: address, token: 'wrong' }).probe()).rejects.toThrow(/answered 401: .*HISTORY_READ_TOKENS/);
      const ask = (url: string, payload: object) => owner.inject({ method: 'POST', url, headers: { authorization: 'Bearer owner-token' }, payload });
      expect((await ask('/warehouse/query', { sql: 'SELECT 1' })).statusCode).toBe(404);
      const withSql = await ask('/warehouse/analyses/rfm', { at: START, sql: 'SELECT 1' });
      expect(withSql.statusCode).toBe(400);
      expect(withSql.json().message).toMatch(/must NOT have additional properties/);
      expect((await ask('/warehouse/analyses/rfm', { at: '1' })).json().message).toMatch(/body\/at must be integer/);
    } finally {
      await owner.close();
    }
  });
});
