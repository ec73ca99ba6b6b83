import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MS_PER_DAY, systemClock } from '../../lib/clock.ts';
import { loadConfig } from '../../lib/config/load.ts';
import { createKafka } from '../../lib/kafka/client.ts';
import type { TopicCodecs } from '../../lib/kafka/codecs.ts';
import type { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import { createLogger } from '../../lib/logger.ts';
import { rulesConfigSchema } from '../../rules/config.ts';
import { createRulesService } from '../../rules/service.ts';
import type { EventRecord, SegmentChangeRecord, TriggerFiringRecord } from '../../schemas/records.ts';
import type { Topics } from '../../schemas/topics.ts';
import { lookupMember, PROCESSOR_TOKEN, processorTestTopics, startProcessor } from '../harness/processor-service.ts';
import { consumeRange, highWatermarks } from '../harness/read-range.ts';
import { testEvent } from '../harness/test-event.ts';
import { until } from '../harness/until.ts';

const services = inject('services');
const logger = createLogger({ service: 'rules-live-test', level: 'fatal' });
const kafka = createKafka({ brokers: services.kafkaBrokers, clientId: 'rules-live-test' }, logger);
const run = `${Date.now()}`;
const prefix = `rl${run}:`;
const EDITOR = 'editor-token-for-the-test';
const VIEWER = 'viewer-token-for-the-test';
let topics: Topics;
let codecs: TopicCodecs;
let producer: TopicProducer;

beforeAll(async () => {
  ({ topics, codecs, producer } = await processorTestTopics(services.kafkaBrokers));
});
afterAll(() => producer.disconnect());

let seq = 0;
const event = (partial: Partial<EventRecord>): EventRecord => testEvent(`${run}-rl-${++seq}`, Date.now() - MS_PER_DAY, partial);
const send = (events: EventRecord[]) =>
  producer.send(
    topics.events,
    events.map((value) => ({ key: value.userId ?? value.anonymousId ?? '', value })),
  );
const person = (userId: string, order: boolean) => [
  event({ userId, type: 'identify', traits: JSON.stringify({ cohort: run, email: `${userId}@example.cn` }) }),
  ...(order ? [event({ userId, event: 'Order Completed', properties: '{"order_id":"o","total":30}' })] : []),
];

const member = (url: string, userId: string) => lookupMember<{ memberId: string; orders: { count: number }; segments: { id: string }[] }>(url, 'user', userId);

describe('rules applied to running processors (needs Kafka, Redis, ClickHouse)', () => {
  it('rules created over the API while events flow: existing members enter within a second, new ones as they come, a trigger fires; explain and dry run agree', async () => {
    const marks = await highWatermarks(kafka, topics.segmentChanges.name);
    const triggerMarks = await highWatermarks(kafka, topics.triggers.name);
    const buyers = [0, 1, 2, 3, 4].map((i) => `rl-buyer-${run}-${i}`);
    const browsers = [0, 1, 2].map((i) => `rl-browser-${run}-${i}`);
    await send([...buyers.flatMap((u) => person(u, true)), ...browsers.flatMap((u) => person(u, false))]);

    const processor = await startProcessor(services.kafkaBrokers, services.redisUrl, {
      REDIS_KEY_PREFIX: prefix,
      PROCESSOR_GROUP_ID: `rl-${run}`,
    });
    const rules = await createRulesService(
      loadConfig(rulesConfigSchema, {
        REDIS_URL: services.redisUrl,
        REDIS_KEY_PREFIX: prefix,
        RULES_HOST: '127.0.0.1',
        RULES_PORT: '0',
        RULES_API_TOKENS: `tester:editor:${EDITOR},watcher:viewer:${VIEWER}`,
        RULES_PROCESSOR_URL: processor.url,
        RULES_PROCESSOR_TOKEN: PROCESSOR_TOKEN,
      }),
      systemClock,
      logger,
    );
    await rules.lifecycle.start();
    const api = (method: string, path: string, body?: unknown, token = EDITOR) =>
      fetch(`${rules.url()}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
    try {
      for (const userId of [...buyers, ...browsers]) await until(`${userId} is processed`, () => member(processor.url, userId));
      // Live traffic keeps flowing while the rule is created.
      let flowing = true;
      const background = (async () => {
        for (let i = 0; flowing; i++) {
          await send([event({ anonymousId: `rl-visitor-${run}-${i}`, type: 'page', name: 'Home' })]);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();

      const condition = { and: [{ '==': [{ var: 'traits.cohort' }, run] }, { '>=': [{ var: 'orders.count' }, 1] }] };
      const created = await api('POST', '/rules', { id: 'buyers', kind: 'segment', name: 'Buyers', condition, active: true });
      expect(created.status).toBe(201);
      const createdAt = Date.now();
      await until('a buyer enters', async () => ((await member(processor.url, buyers[0] as string))?.segments.length ? true : undefined), 5_000, 20);
      const firstEnteredAfterMs = Date.now() - createdAt;
      console.log(`first member entered ${firstEnteredAfterMs} ms after the rule was created`);
      expect(firstEnteredAfterMs).toBeLessThan(1_000);
      // A trigger for orders of this cohort; then a new buyer enters the segment and fires it as its order is processed.
      const trigger = await api('POST', '/rules', {
        id: 'thank_you',
        kind: 'trigger',
        name: 'Thank you',
        on: { event: 'Order Completed' },
        condition: { '==': [{ var: 'traits.cohort' }, run] },
        businessLine: 'apparel',
        active: true,
      });
      expect(trigger.status).toBe(201);
      await new Promise((r) => setTimeout(r, 600)); // past a rules reload (250 ms)
      const newcomer = `rl-buyer-${run}-new`;
      await send(person(newcomer, true));
      for (const userId of [...buyers, newcomer])
        await until(`${userId} enters`, async () => ((await member(processor.url, userId))?.segments.some((s) => s.id === 'buyers') ? true : undefined));
      flowing = false;
      await background;
      for (const userId of browsers) expect((await member(processor.url, userId))?.segments).toEqual([]);

      const progress = await until('the backfill finishes', async () => {
        const body = (await (await api('GET', '/rules/buyers/backfill')).json()) as { status: string; entered: number; version: number };
        return body.status === 'done' ? body : undefined;
      });
      expect(progress.version).toBe(1);
      expect(progress.entered).toBeGreaterThanOrEqual(buyers.length);

      // The segment changes topic carries one "entered" per buyer, from rule version 1.
      const records: SegmentChangeRecord[] = [];
      const memberIds = new Set(await Promise.all([...buyers, newcomer].map(async (u) => (await member(processor.url, u))?.memberId)));
      await consumeRange(kafka, codecs, topics.segmentChanges, marks, await highWatermarks(kafka, topics.segmentChanges.name), async (r) => {
        if (r.segmentId === 'buyers') records.push(r);
      });
      expect(records.filter((r) => memberIds.has(r.memberId)).map((r) => `${r.change} v${r.ruleVersion}`)).toEqual(Array(6).fill('entered v1'));
      expect(new Set(records.map((r) => r.memberId))).toEqual(memberIds);

      const firings: TriggerFiringRecord[] = [];
      await consumeRange(kafka, codecs, topics.triggers, triggerMarks, await highWatermarks(kafka, topics.triggers.name), async (r) => {
        firings.push(r);
      });
      const newcomerId = (await member(processor.url, newcomer))?.memberId;
      expect(firings.map((f) => [f.memberId === newcomerId, f.ruleId, f.ruleVersion, f.outcome, f.businessLine])).toEqual([
        [true, 'thank_you', 1, 'fired', 'apparel'],
      ]);

      // Explain why a browser is not in it; dry-run a draft that finds the browsers (both through the rules API).
      const explained = await api('GET', `/rules/buyers/explain?kind=user&value=${browsers[0]}`);
      expect(await explained.json()).toMatchObject({
        rule: { id: 'buyers', version: 1 },
        matches: false,
        inSegment: false,
        condition: { held: false, parts: [{ held: true }, { held: false, parts: [{ variable: 'orders.count', value: 0 }, { value: 1 }] }] },
      });
      const dry = await api('POST', '/rules/dry-run', {
        condition: { and: [{ '==': [{ var: 'traits.cohort' }, run] }, { '<': [{ var: 'orders.count' }, 1] }] },
        sample: 2,
      });
      expect(await dry.json()).toMatchObject({ matched: 3, complete: true, sample: [{ values: { 'orders.count': 0 } }, { values: { 'traits.cohort': run } }] });

      // A viewer sees why a member matched, never who they are: no lookup by a person's ids (it
      // would tell whether they are a member), and personal data masked.
      const byUser = await api('GET', `/rules/buyers/explain?kind=user&value=${browsers[0]}`, undefined, VIEWER);
      expect(byUser.status).toBe(403);
      expect(await byUser.json()).toMatchObject({ error: 'forbidden', message: expect.stringMatching(/^kind: a viewer explains by member id only/) });
      const memberId = (await member(processor.url, browsers[0] as string))?.memberId as string;
      const emailRule = { and: [{ '==': [{ var: 'traits.cohort' }, run] }, { '!!': [{ var: 'traits.email_hash' }] }] };
      type DryRun = { matched: number; sample: { values: Record<string, unknown> }[] };
      const byEditor = (await (await api('POST', '/rules/dry-run', { condition: emailRule, sample: 6 })).json()) as DryRun;
      const byViewer = (await (await api('POST', '/rules/dry-run', { condition: emailRule, sample: 6 }, VIEWER)).json()) as DryRun;
      expect(byEditor.matched).toBeGreaterThanOrEqual(buyers.length + browsers.length);
      expect(byViewer.matched).toBe(byEditor.matched);
      expect(byEditor.sample[0]?.values['traits.email_hash']).toMatch(/^[\w-]{32}$/);
      expect(byViewer.sample.map((s) => s.values['traits.email_hash'])).toEqual(Array(byViewer.sample.length).fill('***'));
      const explainedToViewer = await api('GET', `/rules/buyers/explain?kind=member&value=${memberId}`, undefined, VIEWER);
      expect(explainedToViewer.status).toBe(200);
      expect(await explainedToViewer.json()).toMatchObject({ rule: { id: 'buyers', version: 1 }, matches: false });
      const invalid = await fetch(`${processor.url}/segments/dry-run`, {
        method: 'POST',
        headers: { authorization: `Bearer ${PROCESSOR_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ condition: { '>': [{ var: 'orders.cnt' }, 1] } }),
      });
      expect(invalid.status).toBe(422);
      expect(((await invalid.json()) as { problems: unknown[] }).problems[0]).toMatchObject({ variable: 'orders.cnt', path: 'condition.>[0].var[0]' });
    } finally {
      await rules.lifecycle.stop();
      await processor.service.lifecycle.stop();
    }
  });
});
