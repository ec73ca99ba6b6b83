import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ANALYSES } from '../../lib/analytics/catalog.ts';
import type { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import type { Topics } from '../../schemas/topics.ts';
import { canaryServer, VALUE_INJECTIONS, warehouseExploits } from '../harness/exploits.ts';
import { processorTestTopics, startHistory, startProcessor } from '../harness/processor-service.ts';
import { testEvent } from '../harness/test-event.ts';
import { until } from '../harness/until.ts';

/*
 * The history service's warehouse route (the processors served it, as raw SQL, before
 * history moved out of them), attacked with every payload that once got through that: as SQL, as the SQL field of a request, as every text value of every
 * analysis and as an analysis name. Nothing runs but the catalogue's own analyses.
 */

const services = inject('services');
const run = `${Date.now()}`;
const TOKEN = 'warehouse-test-token';
const DAY = 86_400_000;
const at = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()) - 2 * DAY + 3_600_000;
const fromDay = new Date(at - DAY).toISOString().slice(0, 10);
const toDay = new Date(at + DAY).toISOString().slice(0, 10);
let topics: Topics;
let producer: TopicProducer;

beforeAll(async () => {
  ({ topics, producer } = await processorTestTopics(services.kafkaBrokers));
});
afterAll(() => producer.disconnect());

/** Every request an analysis takes, with `text` in each of its free-text fields (one request per field). */
function requestsCarrying(text: string, window: { from: number; to: number }): [string, object][] {
  const { from, to } = window;
  const funnel = { steps: [{ event: 'Viewed' }, { event: 'Order Completed' }], windowSeconds: 3_600, from, to };
  return [
    ['funnel', { ...funnel, steps: [{ event: text }, { event: 'Order Completed' }] }],
    ['funnel', { ...funnel, steps: [{ event: 'Viewed', where: [{ property: text, op: 'eq', value: text }] }, { event: 'Order Completed' }] }],
    ['funnel', { ...funnel, steps: [{ event: 'Viewed', where: [{ property: 'plan', op: 'contains', value: text }] }, { event: 'Order Completed' }] }],
    ['funnel', { ...funnel, breakdown: { property: text } }],
    ['funnel', { ...funnel, breakdown: { segment: text } }],
    ['retention', { period: 'day', periods: 2, from, to, cohortEvent: text, returnEvent: text }],
    ['retention', { period: 'day', periods: 2, from, to, timeZone: text }],
    ['paths', { anchor: text, from, to }],
    ['trends', { fromDay, toDay, event: text, breakdown: { property: text } }],
    ['trends', { fromDay, toDay, timeZone: text }],
    ['lifecycle-sizes', { fromDay, toDay, timeZone: text }],
    ['ltv', { at: to, timeZone: text }],
    ['campaign', { ruleId: text, from, to, days: 7 }],
  ];
}

describe('warehouse route of the history service (needs Kafka, Redis, ClickHouse)', () => {
  it('refuses every exploit payload: nothing but catalogue analyses runs, tables intact, no file read or written, no request sent', async () => {
    const canary = await canaryServer();
    const writtenFile = join(mkdtempSync(join(tmpdir(), 'segstream-exploit-')), 'written.csv');
    const history = await startHistory(services.kafkaBrokers, { HISTORY_READ_TOKENS: TOKEN });
    const processor = await startProcessor(services.kafkaBrokers, services.redisUrl, {
      REDIS_KEY_PREFIX: `wr${run}:`,
      PROCESSOR_GROUP_ID: `wr-${run}`,
      PROCESSOR_NEW_GROUP_STARTS_AT: 'latest',
    });
    const ask = (path: string, body: unknown, token = TOKEN) =>
      fetch(`${history.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const trends = async () => {
      const response = await ask('/warehouse/analyses/trends', { fromDay, toDay });
      expect(response.status).toBe(200);
      return ((await response.json()) as { events: number }[]).reduce((sum, point) => sum + point.events, 0);
    };
    try {
      const events = Array.from({ length: 6 }, (_, i) =>
        testEvent(`${run}-${i}`, at + i * 60_000, { userId: `exploit-${run}-${i % 2}`, event: i % 3 === 2 ? 'Order Completed' : 'Viewed' }),
      );
      await until('the processor and the history service joined their groups', async () =>
        (await fetch(`${processor.url}/readyz`)).ok && (await fetch(`${history.url}/readyz`)).ok ? true : undefined,
      );
      await producer.send(
        topics.events,
        events.map((value) => ({ key: value.userId as string, value })),
      );
      await until('history holds the events', async () => ((await trends()) === events.length ? true : undefined));

      expect((await ask('/warehouse/analyses/trends', { fromDay, toDay }, 'wrong')).status).toBe(401);
      const window = { from: at - DAY, to: at + DAY };
      for (const payload of [...warehouseExploits({ database: 'segstream', writtenFile, canaryUrl: canary.url }), ...VALUE_INJECTIONS]) {
        const started = Date.now();
        expect((await ask('/warehouse/query', { sql: payload, params: {} })).status, payload).toBe(404);
        for (const analysis of ANALYSES) {
          const response = await ask(`/warehouse/analyses/${analysis.name}`, { sql: payload });
          expect(response.status, `${analysis.name} with sql: ${payload}`).toBe(400);
        }
        expect((await ask(`/warehouse/analyses/${encodeURIComponent(payload)}`, { fromDay, toDay })).status, payload).toBe(404);
        for (const [name, request] of requestsCarrying(payload, window)) {
          const response = await ask(`/warehouse/analyses/${name}`, request);
          // The payload is a value: bound as a parameter it matches nothing (200), or it is not a time zone (422).
          expect([200, 422], `${name} ${JSON.stringify(request)}: ${response.status} ${await response.clone().text()}`).toContain(response.status);
        }
        expect(Date.now() - started, `time taken by ${payload}`).toBeLessThan(20_000);
      }

      expect(await trends()).toBe(events.length);
      // Every history table is still there: each analysis reading one answers.
      const valid: [string, object][] = [
        ['rfm', { at: at + DAY }],
        ['ltv', { at: at + DAY }],
        ['segment-sizes', { fromDay, toDay }],
        ['lifecycle-sizes', { fromDay, toDay }],
        ['campaign', { ruleId: 'welcome', ...window, days: 7 }],
        ['attribution', { ...window, lookbackDays: 7 }],
      ];
      for (const [name, request] of valid) expect((await ask(`/warehouse/analyses/${name}`, request)).status, name).toBe(200);
      expect(existsSync(writtenFile)).toBe(false);
      expect(canary.requests()).toBe(0);
    } finally {
      await processor.service.lifecycle.stop();
      await history.service.lifecycle.stop();
      await canary.close();
    }
  });
});
