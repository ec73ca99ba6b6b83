import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, type KafkaMessage, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTopicCodecs, type TopicCodecs } from '../../lib/kafka/codecs.ts';
import { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import { loadSchemaCatalog } from '../../schemas/catalog.ts';
import { FileSchemaRegistry } from '../../schemas/schema-registry.ts';
import { buildTopics, DEFAULT_TOPIC_NAMES, eventsTopicKey, type Topics } from '../../schemas/topics.ts';
import { LocalKafka } from '../../scripts/stack/local-kafka.ts';
import { freePort } from '../../scripts/stack/processes.ts';
import { ensureTopics } from '../../scripts/stack/topics.ts';
import { startIngest } from '../harness/ingest.ts';
import { ResponseDroppingProxy } from '../harness/kafka-proxy.ts';
import { toEventRecord } from '../workload/event-record.ts';
import { generateWorkload } from '../workload/generator.ts';

/*
 * The producers' idempotence on the real broker: a produce whose response is lost is
 * retried without storing the records twice, and concurrent sends all land once. The
 * non-idempotent producer shows the duplicate that idempotence prevents. The lost
 * response needs a broker of its own behind a proxy (it advertises the proxy's port).
 */
const services = inject('services');
const run = Date.now();
let proxy: ResponseDroppingProxy;
let proxied: LocalKafka;
let catalog: Awaited<ReturnType<typeof loadSchemaCatalog>>;
const events = [...generateWorkload({ seed: 8, members: 20, days: 3 })].slice(0, 50).map((e) => ({
  key: eventsTopicKey(e.message),
  value: toEventRecord(e.message, e.at + 100, 'web'),
}));

beforeAll(async () => {
  const brokerPort = await freePort();
  proxy = await ResponseDroppingProxy.start(brokerPort);
  proxied = await LocalKafka.start({ dir: mkdtempSync(join(tmpdir(), 'segstream-proxied-kafka-')), proxied: { port: brokerPort, advertisedPort: proxy.port } });
  catalog = await loadSchemaCatalog();
});
afterAll(async () => {
  await proxied?.stop();
  await proxy?.close();
});

/** The proxied broker, as clients reach it. */
const proxiedBrokers = () => [`127.0.0.1:${proxy.port}`];

/** A fresh events topic of `partitions` and a producer through the proxy. */
async function setUp(name: string, partitions: number, idempotent: boolean): Promise<{ topics: Topics; producer: TopicProducer; codecs: TopicCodecs }> {
  const topic = `segstream.test.idempotence-${name}-${run}`;
  await ensureTopics(proxiedBrokers(), [topic], { partitions, replicationFactor: -1 });
  const topics = buildTopics({ ...DEFAULT_TOPIC_NAMES, events: topic }, catalog);
  const codecs = await createTopicCodecs(new FileSchemaRegistry(catalog), topics);
  const producer = new TopicProducer({ brokers: proxiedBrokers(), clientId: `idempotence-${name}` }, codecs, { idempotent });
  await producer.connect();
  return { topics, producer, codecs };
}

async function storedCount(topic: string): Promise<number> {
  const admin = new Kafka({ clientId: 'idempotence-offsets', brokers: proxiedBrokers(), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

describe('idempotent producing on the real broker (needs Kafka)', () => {
  it('a produce retried after its response was lost stores the records once', async () => {
    const { topics, producer } = await setUp('lost-response', 1, true);
    try {
      await producer.send(topics.events, events.slice(0, 5)); // producer id and connection established
      const before = proxy.droppedResponses;
      proxy.dropNextProduceResponse();
      await producer.send(topics.events, events);
      expect(proxy.droppedResponses).toBe(before + 1);
      expect(await storedCount(topics.events.name)).toBe(5 + events.length);
    } finally {
      await producer.disconnect();
    }
  });

  it('without idempotence the same lost response stores the records twice (what idempotence prevents)', async () => {
    const { topics, producer } = await setUp('lost-response-plain', 1, false);
    try {
      await producer.send(topics.events, events.slice(0, 5));
      const before = proxy.droppedResponses;
      proxy.dropNextProduceResponse();
      await producer.send(topics.events, events);
      expect(proxy.droppedResponses).toBe(before + 1);
      expect(await storedCount(topics.events.name)).toBe(5 + 2 * events.length);
    } finally {
      await producer.disconnect();
    }
  });

  it('concurrent sends to fewer partitions than sends each land once', async () => {
    const { topics, producer } = await setUp('concurrent', 2, true);
    try {
      await Promise.all(events.slice(0, 30).map((event) => producer.send(topics.events, [event])));
      expect(await storedCount(topics.events.name)).toBe(30);
    } finally {
      await producer.disconnect();
    }
  });

  it('ingest produces with an idempotent producer: its records carry a producer id', async () => {
    const ingest = await startIngest(services.kafkaBrokers);
    try {
      const mark = await ingest.mark();
      const response = await fetch(`${ingest.url}/v1/track`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from('wk_web:').toString('base64')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ userId: `idem-${run}`, event: 'Product Viewed', messageId: `idem-${run}` }),
      });
      expect(response.status).toBe(200);
      const reader = new Kafka({ clientId: 'idempotence-reader', brokers: [...services.kafkaBrokers], logLevel: logLevel.NOTHING });
      const consumer = reader.consumer({ groupId: `idempotence-${run}`, maxWaitTimeInMs: 100 });
      const found: KafkaMessage[] = [];
      await consumer.connect();
      await consumer.subscribe({ topic: DEFAULT_TOPIC_NAMES.events, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          if (BigInt(message.offset) >= (mark.get(partition) ?? 0n) && message.key?.toString() === `idem-${run}`) found.push(message);
        },
      });
      const deadline = Date.now() + 30_000;
      while (found.length === 0 && Date.now() < deadline) await sleep(50);
      await consumer.disconnect();
      expect(found).toHaveLength(1);
      // Not part of kafkajs's types: the record batch header each message came in.
      const { producerId } = (found[0] as KafkaMessage & { batchContext: { producerId: string } }).batchContext;
      expect(Number(producerId)).toBeGreaterThanOrEqual(0);
    } finally {
      await ingest.stop();
    }
  });
});
