import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MS_PER_DAY } from '../../lib/clock.ts';
import { createKafka } from '../../lib/kafka/client.ts';
import type { TopicCodecs } from '../../lib/kafka/codecs.ts';
import type { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import { createLogger } from '../../lib/logger.ts';
import type { DeadLetterRecord, EventRecord, LifecycleTransitionRecord } from '../../schemas/records.ts';
import type { Topics } from '../../schemas/topics.ts';
import { HISTORY_TOKEN, PROCESSOR_TOKEN, processorTestTopics, startHistory, startProcessor } from '../harness/processor-service.ts';
import { consumeRange, highWatermarks, type PartitionOffsets } from '../harness/read-range.ts';
import { testEvent } from '../harness/test-event.ts';
import { until } from '../harness/until.ts';

const services = inject('services');
const logger = createLogger({ service: 'processor-service-test', level: 'fatal' });
const kafka = createKafka({ brokers: services.kafkaBrokers, clientId: 'processor-service-test' }, logger);
const run = `${Date.now()}`;
const prefix = `ps${run}:`;
let topics: Topics;
let codecs: TopicCodecs;
let producer: TopicProducer;
let marks: { lifecycle: PartitionOffsets; dlq: PartitionOffsets };

beforeAll(async () => {
  ({ topics, codecs, producer } = await processorTestTopics(services.kafkaBrokers));
  marks = { lifecycle: await highWatermarks(kafka, topics.lifecycle.name), dlq: await highWatermarks(kafka, topics.deadLetters.name) };
});
afterAll(() => producer.disconnect());

const now = Date.now();
let seq = 0;
const event = (partial: Partial<EventRecord>): EventRecord => testEvent(`${run}-${++seq}`, now, partial);

async function lookup(url: string, userId: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}/members/lookup?kind=user&value=${encodeURIComponent(userId)}`, {
    headers: { authorization: `Bearer ${PROCESSOR_TOKEN}` },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('processor service through Kafka (needs Kafka, Redis, ClickHouse)', () => {
  it('applies events, publishes lifecycle transitions, dead letters and history (written by the history service), and a full replay changes nothing', async () => {
    const userId = `buyer-${run}`;
    const anonymousId = `anon-${run}`;
    const events = [
      event({ anonymousId, type: 'page', name: 'Home', timestamp: now - 10 * MS_PER_DAY }),
      event({ anonymousId, userId, type: 'identify', traits: '{"email":"buyer@example.com"}', timestamp: now - 10 * MS_PER_DAY + 1_000 }),
      event({ anonymousId, userId, event: 'Order Completed', properties: '{"order_id":"a","total":40}', timestamp: now - 9 * MS_PER_DAY }),
      event({ anonymousId, userId, event: 'Order Completed', properties: '{"order_id":"b","total":60}', timestamp: now - 2 * MS_PER_DAY }),
    ];
    await producer.send(
      topics.events,
      events.map((value) => ({ key: anonymousId, value })),
    );
    const raw = kafka.producer();
    await raw.connect();
    await raw.send({ topic: topics.events.name, acks: -1, messages: [{ key: 'poison', value: 'not avro at all' }] });
    await raw.disconnect();

    const produced = await highWatermarks(kafka, topics.events.name);
    // History is written by the history service from what the processor publishes; the member lookup reads it there.
    const history = await startHistory(services.kafkaBrokers);
    await until('the history service joined its group', async () => ((await fetch(`${history.url}/readyz`)).ok ? true : undefined));
    const first = await startProcessor(services.kafkaBrokers, services.redisUrl, {
      REDIS_KEY_PREFIX: prefix,
      PROCESSOR_GROUP_ID: `g1-${run}`,
      PROCESSOR_HISTORY_URL: history.url,
      PROCESSOR_HISTORY_TOKEN: HISTORY_TOKEN,
    });
    try {
      const found = await until('the member has both orders', async () => {
        const response = await lookup(first.url, userId);
        const member = response.body.member as { orders: { count: number } } | undefined;
        return member?.orders.count === 2 ? response.body : undefined;
      });
      const member = found.member as {
        lifecycle: { stage: string };
        rfm: { frequency: number; monetary: number };
        counters: Record<string, Record<string, { count: number }>>;
        traits: Record<string, unknown>;
      };
      expect(member.lifecycle.stage).toBe('active');
      expect(member.rfm).toMatchObject({ frequency: 2, monetary: 100 });
      expect(member.counters.events?.['30d']?.count).toBe(4);
      expect(member.traits).not.toHaveProperty('email');
      expect(Object.keys(member.traits)).toEqual(['email_hash']);
      await until('history reached ClickHouse', async () => {
        const latest = (await lookup(first.url, userId)).body.latestEvents as unknown[];
        return latest.length === 4 ? latest : undefined;
      });
      const unauthorized = await fetch(`${first.url}/members/lookup?kind=user&value=${userId}`);
      expect(unauthorized.status).toBe(401);
    } finally {
      await first.service.lifecycle.stop();
      await history.service.lifecycle.stop();
    }

    const transitions: LifecycleTransitionRecord[] = [];
    await consumeRange(kafka, codecs, topics.lifecycle, marks.lifecycle, await highWatermarks(kafka, topics.lifecycle.name), async (r) => {
      transitions.push(r);
    });
    const mine = transitions.filter((t) => events.some((e) => e.messageId === t.causeEventId));
    expect(mine.map((t) => `${t.fromStage ?? '-'}->${t.toStage}`)).toEqual(['-->prospect', 'prospect->new', 'new->active']);
    const deadLetters: DeadLetterRecord[] = [];
    await consumeRange(kafka, codecs, topics.deadLetters, marks.dlq, await highWatermarks(kafka, topics.deadLetters.name), async (r) => {
      deadLetters.push(r);
    });
    expect(deadLetters.find((d) => d.value?.toString() === 'not avro at all')).toMatchObject({ reason: 'not_wire_format', sourceTopic: topics.events.name });

    // A second processor in a new group replays the whole topic against the same state.
    const afterFirst = await highWatermarks(kafka, topics.lifecycle.name);
    const second = await startProcessor(services.kafkaBrokers, services.redisUrl, { REDIS_KEY_PREFIX: prefix, PROCESSOR_GROUP_ID: `g2-${run}` });
    try {
      // The whole topic (earlier tests' records too), every record counted once it is applied, skipped or dead-lettered.
      const records = [...produced.values()].reduce((sum, high) => sum + Number(high), 0);
      await until('the replay was consumed', async () => {
        const metric = await second.service.metrics.events.get();
        const duplicates = metric.values.find((v) => v.labels.outcome === 'duplicate')?.value ?? 0;
        const processed = metric.values.reduce((sum, v) => sum + v.value, 0);
        return duplicates >= events.length && processed >= records ? duplicates : undefined;
      });
      const member = (await lookup(second.url, userId)).body.member as { orders: { count: number }; rfm: { monetary: number } };
      expect(member.orders.count).toBe(2);
      expect(member.rfm.monetary).toBe(100);
    } finally {
      await second.service.lifecycle.stop();
    }
    // Stopping commits what was applied (before leaving the group): every record up to the
    // ones this test produced is committed for the replaying group.
    const admin = kafka.admin();
    await admin.connect();
    const [committed] = await admin.fetchOffsets({ groupId: `g2-${run}`, topics: [topics.events.name] });
    await admin.disconnect();
    for (const [partition, high] of [...produced].filter(([, high]) => high > 0n)) {
      const offset = committed?.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
      expect(BigInt(offset), `partition ${partition}`).toBeGreaterThanOrEqual(high);
    }
    const replayed: LifecycleTransitionRecord[] = [];
    await consumeRange(kafka, codecs, topics.lifecycle, afterFirst, await highWatermarks(kafka, topics.lifecycle.name), async (r) => {
      replayed.push(r);
    });
    expect(replayed.filter((t) => t.memberId === (mine[0] as LifecycleTransitionRecord).memberId)).toEqual([]);
  });
});
