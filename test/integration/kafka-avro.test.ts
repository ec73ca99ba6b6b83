import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKafka } from '../../lib/kafka/client.ts';
import { createTopicCodecs, type TopicCodecs } from '../../lib/kafka/codecs.ts';
import { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import { createLogger } from '../../lib/logger.ts';
import { loadSchemaCatalog } from '../../schemas/catalog.ts';
import type { EventRecord } from '../../schemas/records.ts';
import { FileSchemaRegistry } from '../../schemas/schema-registry.ts';
import { buildTopics, DEFAULT_TOPIC_NAMES, eventsTopicKey, type Topics } from '../../schemas/topics.ts';
import { startGroup } from '../harness/kafka.ts';
import { toEventRecord } from '../workload/event-record.ts';
import { generateWorkload } from '../workload/generator.ts';

const services = inject('services');
const kafka = createKafka({ brokers: services.kafkaBrokers, clientId: 'test-kafka-avro' }, createLogger({ service: 'test', level: 'error' }));
let topics: Topics;
let codecs: TopicCodecs;
let producer: TopicProducer;

beforeAll(async () => {
  // The registry's event topic, renamed to a scratch topic: the same mechanism services use for configured names.
  topics = buildTopics({ ...DEFAULT_TOPIC_NAMES, events: 'segstream.test.roundtrip' }, await loadSchemaCatalog());
  codecs = await createTopicCodecs(new FileSchemaRegistry(await loadSchemaCatalog()), topics);
  producer = new TopicProducer({ brokers: services.kafkaBrokers, clientId: 'test-kafka-avro' }, codecs);
  await producer.connect();
});

afterAll(() => producer.disconnect());

describe('Avro records through the broker (needs Kafka)', () => {
  it('a consumer group of two splits the partitions and reads every record back, in order per key', async () => {
    const group = await startGroup(kafka, { topic: topics.events.name, groupId: `roundtrip-${Date.now()}`, consumers: 2, partitions: services.partitions });
    const sent = [...generateWorkload({ seed: 3, members: 60, days: 10 })]
      .slice(0, 400)
      .map((e) => ({ key: eventsTopicKey(e.message), value: toEventRecord(e.message, e.at + 500, 'web') }));
    const stored = await producer.send(topics.events, sent);
    expect(stored.length).toBeGreaterThan(0);
    expect(stored.every((batch) => batch.topic === topics.events.name && batch.offset >= 0n)).toBe(true);

    const received = await group.waitFor(sent.length);
    await group.stop();
    expect(received).toHaveLength(sent.length);
    // Each member read exactly the partitions it was assigned.
    for (const record of received) expect(group.assignments[record.consumer]).toContain(record.partition);
    expect(new Set(received.map((r) => r.consumer)).size).toBe(2);

    const codec = codecs.codecFor(topics.events);
    const byKey = new Map<string, EventRecord[]>();
    for (const record of received.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset))) {
      expect(record.message.value?.readUInt8(0)).toBe(0);
      expect(record.message.value?.readInt32BE(1)).toBe(codec.writerId);
      const decoded = await codec.decode(record.message.value);
      if (!decoded.ok) throw new Error(decoded.error.detail);
      const key = record.message.key?.toString() as string;
      byKey.set(key, [...(byKey.get(key) ?? []), decoded.value]);
    }
    for (const [key, values] of byKey) {
      expect(values).toEqual(sent.filter((s) => s.key === key).map((s) => s.value));
    }
  });

  it("one send of several topics stores each topic's records, in order per key", async () => {
    const [a, b] = ['segstream.test.batches-a', 'segstream.test.batches-b'];
    const events = [...generateWorkload({ seed: 5, members: 20, days: 5 })]
      .slice(0, 120)
      .map((e) => ({ key: eventsTopicKey(e.message), value: toEventRecord(e.message, e.at + 500, 'web') }));
    const toA = events.filter((_, i) => i % 3 !== 0);
    const toB = events.filter((_, i) => i % 3 === 0);
    const stored = await producer.sendBatches([
      { topic: a, records: producer.encode(topics.events, toA) },
      { topic: b, records: producer.encode(topics.events, toB) },
    ]);
    expect(new Set(stored.map((s) => s.topic))).toEqual(new Set([a, b]));
    const codec = codecs.codecFor(topics.events);
    for (const [topic, sent] of [
      [a, toA],
      [b, toB],
    ] as const) {
      const group = await startGroup(kafka, { topic, groupId: `batches-${Date.now()}`, partitions: services.partitions });
      const received = await group.waitFor(sent.length);
      await group.stop();
      expect(received).toHaveLength(sent.length);
      const byKey = new Map<string, EventRecord[]>();
      for (const record of received.sort((x, y) => x.partition - y.partition || Number(x.offset) - Number(y.offset))) {
        const decoded = await codec.decode(record.message.value);
        if (!decoded.ok) throw new Error(decoded.error.detail);
        const key = record.message.key?.toString() as string;
        byKey.set(key, [...(byKey.get(key) ?? []), decoded.value]);
      }
      for (const [key, values] of byKey) expect(values).toEqual(sent.filter((s) => s.key === key).map((s) => s.value));
    }
  });

  it('a record that is not Avro comes back as a decode failure with a reason', async () => {
    const raw = kafka.producer();
    await raw.connect();
    await raw.send({ topic: 'segstream.test.scratch', acks: -1, messages: [{ key: 'k', value: '{"type":"track"}' }] });
    await raw.disconnect();
    const group = await startGroup(kafka, { topic: 'segstream.test.scratch', groupId: `poison-${Date.now()}`, partitions: services.partitions });
    const [record] = await group.waitFor(1);
    await group.stop();
    const decoded = await codecs.codecFor(topics.events).decode(record?.message.value ?? null);
    expect(decoded).toEqual({ ok: false, error: { reason: 'not_wire_format', detail: 'expected magic byte 0 (Confluent wire format), received 123' } });
  });
});
