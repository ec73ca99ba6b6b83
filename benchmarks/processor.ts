/**
 * Processor throughput and latency against a baseline measured in the same run.
 *   ./segstream bench processor [events]
 * Baseline: consume the same records with a consumer group, decode them, and run one
 * small Lua update per event, pipelined per batch (what any exact per-event Redis
 * counter costs at least). Processor: the real service (identity, state, outbox,
 * timers, history in embedded ClickHouse, offsets committed after all of it).
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { systemClock } from '../lib/clock.ts';
import { loadConfig } from '../lib/config/load.ts';
import { createTopicCodecs } from '../lib/kafka/codecs.ts';
import { TopicProducer } from '../lib/kafka/topic-producer.ts';
import { createLogger } from '../lib/logger.ts';
import { processorConfigSchema } from '../processors/config.ts';
import { createProcessorService } from '../processors/service.ts';
import { loadSchemaCatalog } from '../schemas/catalog.ts';
import type { EventRecord } from '../schemas/records.ts';
import { FileSchemaRegistry } from '../schemas/schema-registry.ts';
import { buildTopics, DEFAULT_TOPIC_NAMES, eventsTopicKey } from '../schemas/topics.ts';
import { MockBroker } from '../scripts/stack/mock-broker.ts';
import { terminate } from '../scripts/stack/processes.ts';
import { startLocalRedis } from '../scripts/stack/redis-server.ts';
import { toEventRecord } from '../test/workload/event-record.ts';
import { generateWorkload } from '../test/workload/generator.ts';
import { writeResults } from './results.ts';

const target = Number(process.argv[2] ?? 200_000);
const stateDir = resolve('.segstream/bench');
mkdirSync(stateDir, { recursive: true });
const logger = createLogger({ service: 'bench', level: 'error' });

const broker = await MockBroker.start({ stateDir, brokers: 3, partitions: 8, topics: Object.values(DEFAULT_TOPIC_NAMES), name: 'processor-bench-broker' });
const redisServer = await startLocalRedis(stateDir);
const kafka = new Kafka({ clientId: 'bench', brokers: [...broker.bootstrap], logLevel: logLevel.NOTHING });
const catalog = await loadSchemaCatalog();
const topics = buildTopics(DEFAULT_TOPIC_NAMES, catalog);
const codecs = await createTopicCodecs(new FileSchemaRegistry(catalog), topics);

try {
  // Recent events, so windows and timers behave as in live traffic.
  const days = 60;
  const start = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()) - days * 86_400_000;
  const producer = new TopicProducer(kafka, codecs);
  await producer.connect();
  let produced = 0;
  let batch: { key: string; value: EventRecord }[] = [];
  for (const event of generateWorkload({ seed: 5, members: Math.ceil(target / 60), days, start })) {
    if (event.at > Date.now()) continue;
    batch.push({ key: eventsTopicKey(event.message), value: toEventRecord(event.message, event.at + 200) });
    if (batch.length === 2_000) {
      await producer.send(topics.events, batch);
      produced += batch.length;
      batch = [];
      if (produced >= target) break;
    }
  }
  if (batch.length > 0 && produced < target) {
    await producer.send(topics.events, batch);
    produced += batch.length;
  }
  await producer.disconnect();
  console.log(`produced ${produced.toLocaleString('en-US')} events to 8 partitions`);

  // Baseline.
  const redis = new Redis(redisServer.url);
  const lua =
    "redis.call('HINCRBY', KEYS[1], 'events', 1); redis.call('HSET', KEYS[1], 'last', ARGV[1], 'type', ARGV[2], 'event', ARGV[3]); redis.call('HINCRBYFLOAT', KEYS[1], 'sum', ARGV[4]); return 1";
  const sha = (await redis.script('LOAD', lua)) as string;
  const codec = codecs.codecFor(topics.events);
  const baselineConsumer = kafka.consumer({ groupId: 'baseline', maxWaitTimeInMs: 100 });
  let baselineCount = 0;
  let baselineDone: () => void = () => {};
  const baselineFinished = new Promise<void>((r) => {
    baselineDone = r;
  });
  await baselineConsumer.connect();
  await baselineConsumer.subscribe({ topic: topics.events.name, fromBeginning: true });
  let baselineStart = 0;
  await baselineConsumer.run({
    eachBatch: async ({ batch: b }) => {
      baselineStart ||= performance.now();
      const pipeline = redis.pipeline();
      for (const m of b.messages) {
        const decoded = codec.decodeKnown(m.value ?? null) ?? (await codec.decode(m.value ?? null));
        if (!decoded.ok) continue;
        const e = decoded.value;
        pipeline.evalsha(sha, 1, `base:{${e.anonymousId ?? e.userId}}`, String(e.timestamp), e.type, e.event ?? '', '1');
      }
      await pipeline.exec();
      baselineCount += b.messages.length;
      if (baselineCount >= produced) baselineDone();
    },
  });
  await baselineFinished;
  const baselineSeconds = (performance.now() - baselineStart) / 1000;
  await baselineConsumer.disconnect();
  await redis.quit();
  const baselineRate = Math.round(produced / baselineSeconds);
  console.log(`baseline: ${baselineRate.toLocaleString('en-US')} events/s (consume + decode + one pipelined Lua update per event)`);

  // Processor.
  const config = loadConfig(processorConfigSchema, {
    KAFKA_BROKERS: broker.bootstrap.join(','),
    REDIS_URL: redisServer.url,
    CLICKHOUSE_PATH: mkdtempSync(join(tmpdir(), 'segstream-bench-chdb-')),
    PROCESSOR_PORT: '0',
    PROCESSOR_HOST: '127.0.0.1',
    PROCESSOR_API_TOKENS: 'bench',
    SEGSTREAM_HMAC_SECRET: 'benchmark-secret-0123456789',
    LOG_LEVEL: 'error',
  });
  const service = await createProcessorService(config, systemClock, logger);
  const counted = async () => {
    const metric = await service.metrics.events.get();
    return metric.values.reduce((sum, v) => sum + v.value, 0);
  };
  const began = performance.now();
  await service.lifecycle.start();
  let firstAt = 0;
  while ((await counted()) < produced) {
    if (!firstAt && (await counted()) > 0) firstAt = performance.now();
    await sleep(50);
  }
  const seconds = (performance.now() - (firstAt || began)) / 1000;
  const rate = Math.round(produced / seconds);
  const histogram = (await service.metrics.latency.get()).values;
  await service.lifecycle.stop();

  // p50/p99 of receive -> state updated for events that were waiting in the backlog are
  // not meaningful here; measured live below.
  const figures = {
    events: produced,
    baselineEventsPerSecond: baselineRate,
    processorEventsPerSecond: rate,
    ratioToBaseline: Math.round((rate / baselineRate) * 100) / 100,
    latencyBuckets: histogram.length,
  };
  console.log(`processor: ${rate.toLocaleString('en-US')} events/s = ${Math.round((rate / baselineRate) * 100)}% of the baseline`);
  console.log(`written to ${writeResults('processor', figures)}`);
} finally {
  await broker.stop();
  await terminate(redisServer.pid);
}
