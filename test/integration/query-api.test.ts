import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/logger.ts';
import { registerWarehouseQueryRoute } from '../../lib/warehouse/query-route.ts';
import { RemoteWarehouse } from '../../lib/warehouse/remote.ts';
import type { Warehouse } from '../../lib/warehouse/warehouse.ts';
import { eventRow } from '../../processors/history/history-writer.ts';
import { funnelResult, funnelSql } from '../../query/analytics/funnel.ts';
import { buildQueryServer } from '../../query/server.ts';
import { historyWarehouse } from '../harness/history-warehouse.ts';
import { testEvent } from '../harness/test-event.ts';

const DAY = 86_400_000;
const START = Date.UTC(2026, 4, 1);
const auth = { authorization: 'Bearer query-token' };
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
  const logger = createLogger({ service: 'test', level: 'silent' });
  app = await buildQueryServer({ warehouse, tokens: ['query-token'], timeoutMs: 30_000, logger });
  slow = await buildQueryServer({ warehouse, tokens: ['query-token'], timeoutMs: 1, logger });
}, 60_000);
afterAll(() => warehouse.close());

const post = (server: FastifyInstance, url: string, payload: object, headers: Record<string, string> = auth) =>
  server.inject({ method: 'POST', url, headers, payload });
const funnel = { steps: [{ event: 'Viewed' }, { event: 'Added' }, { event: 'Order Completed' }], windowSeconds: 3_600, from: START, to: START + 10 * DAY };

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
    const day = { fromDay: '2026-05-01', toDay: '2026-05-04' };
    const requests: [string, object][] = [
      ['/analyses/retention', { period: 'day', periods: 3, from: START, to: START + 5 * DAY }],
      ['/analyses/attribution', { from: START, to: START + 5 * DAY, lookbackDays: 7 }],
      ['/analyses/paths', { anchor: 'Viewed', from: START, to: START + 5 * DAY }],
      ['/analyses/trends', { ...day, event: 'Order Completed', breakdown: { property: 'plan' } }],
      ['/analyses/lifecycle-sizes', day],
      ['/analyses/segment-sizes', day],
      ['/analyses/rfm', { at: START + 5 * DAY }],
      ['/analyses/ltv', { at: START + 5 * DAY, timeZone: 'Asia/Shanghai' }],
      ['/analyses/campaign', { ruleId: 'welcome', from: START, to: START + 5 * DAY, days: 7 }],
    ];
    for (const [url, body] of requests) {
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
  });
});

describe('query API reading through the process that owns embedded ClickHouse (needs ClickHouse)', () => {
  it('answers as with direct access; the route wants its token and runs only SELECTs', async () => {
    const owner = Fastify();
    registerWarehouseQueryRoute(owner, { warehouse, tokens: ['owner-token'] });
    const address = await owner.listen({ host: '127.0.0.1', port: 0 });
    try {
      const remote = new RemoteWarehouse({ url: address, token: 'owner-token', database: 'analytics' });
      const logger = createLogger({ service: 'test', level: 'silent' });
      const through = await buildQueryServer({ warehouse: remote, tokens: ['query-token'], timeoutMs: 30_000, logger });
      const direct = await post(app, '/analyses/funnel', { ...funnel, breakdown: { property: 'plan' } });
      const viaOwner = await post(through, '/analyses/funnel', { ...funnel, breakdown: { property: 'plan' } });
      expect(viaOwner.statusCode).toBe(200);
      expect(viaOwner.json()).toEqual(direct.json());
      expect(viaOwner.json().length).toBe(2);

      await expect(new RemoteWarehouse({ url: address, token: 'wrong', database: 'analytics' }).query('SELECT 1')).rejects.toThrow(
        /answered 401: .*PROCESSOR_WAREHOUSE_TOKENS/,
      );
      await expect(remote.query("INSERT INTO events (message_id) VALUES ('x')")).rejects.toThrow(/answered 400: .*Syntax error/);
      await expect(remote.query('SELECT 1 INTO OUTFILE {file:String}', { file: 'x.csv' })).rejects.toThrow(/answered 400/);
      await expect(remote.command()).rejects.toThrow(/read-only/);
      expect(await warehouse.query("SELECT count() AS n FROM events WHERE message_id = 'x'")).toEqual([{ n: 0 }]);
    } finally {
      await owner.close();
    }
  });
});
