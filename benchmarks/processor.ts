/**
 * Processor throughput and latency against a baseline measured in the same run.
 *   ./segstream bench processor [events] [live events/s]
 *   BENCH_PROCESSOR_ENV=PROCESSOR_CONCURRENCY=2,PROCESSOR_BATCH_SIZE=4000 overrides processor settings (to compare them).
 * Baseline: consume the same records with a consumer group, decode them, and run one
 * small Lua update per event, pipelined per batch (what any exact per-event Redis
 * counter costs at least). Processor: the real service (identity, state, outbox,
 * timers, outputs and history records published, offsets committed after all of it), first
 * draining the backlog (sustained events/s), then under a steady live load below its
 * capacity (latency from ingest receiving an event to its state being updated).
 * CPU seconds of the Node process, Redis and the broker are measured per phase: all
 * three share this machine's cores. Then the history service, a process of its own,
 * writes what the drain published to embedded ClickHouse (rows/s and CPU per row), next
 * to a baseline of reading and decoding the same records.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { systemClock } from '../lib/clock.ts';
import { loadConfig } from '../lib/config/load.ts';
import { createTopicCodecs } from '../lib/kafka/codecs.ts';
import { stopIdleRequestQueueTimer } from '../lib/kafka/kafkajs-idle-timer.ts';
import { TopicProducer } from '../lib/kafka/topic-producer.ts';
import { createLogger } from '../lib/logger.ts';
import { processorConfigSchema } from '../processors/config.ts';
import { createProcessorService } from '../processors/service.ts';
import { loadSchemaCatalog } from '../schemas/catalog.ts';
import type { EventRecord } from '../schemas/records.ts';
import { FileSchemaRegistry } from '../schemas/schema-registry.ts';
import { buildTopics, DEFAULT_TOPIC_NAMES, eventsTopicKey, type Topic } from '../schemas/topics.ts';
import { LocalKafka } from '../scripts/stack/local-kafka.ts';
import { terminate } from '../scripts/stack/processes.ts';
import { startLocalRedis } from '../scripts/stack/redis-server.ts';
import { ensureTopics } from '../scripts/stack/topics.ts';
import { toEventRecord } from '../test/workload/event-record.ts';
import { generateWorkload } from '../test/workload/generator.ts';
import { writeResults } from './results.ts';
import { cpuSecondsOf } from './support/cpu.ts';

// Every kafkajs client of this process as the services run theirs (lib/kafka/kafkajs-idle-timer.ts).
stopIdleRequestQueueTimer();

/** The q-quantile of a Prometheus histogram, interpolated within its bucket as histogram_quantile does. */
function histogramQuantile(buckets: readonly { le: number; count: number }[], q: number): number {
  const total = buckets.at(-1)?.count ?? 0;
  const rank = q * total;
  let previous = { le: 0, count: 0 };
  for (const bucket of buckets) {
    if (bucket.count >= rank) {
      if (!Number.isFinite(bucket.le)) return previous.le;
      const inBucket = bucket.count - previous.count;
      return previous.le + (bucket.le - previous.le) * (inBucket === 0 ? 0 : (rank - previous.count) / inBucket);
    }
    previous = bucket;
  }
  return previous.le;
}

/**
 * The history service writing what the drain published: started as a process of its own
 * (its own CPU), it is done when its group has committed every record of its topics.
 * Baseline: a consumer group reading and decoding the same records.
 */
async function measureHistory(kafka: Kafka, bootstrap: readonly string[]) {
  const sources = [topics.memberEvents, topics.identityChanges, topics.lifecycle, topics.segmentChanges, topics.triggers];
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await Promise.all(
      sources.map(async (t) => [t.name, new Map((await admin.fetchTopicOffsets(t.name)).map((p) => [p.partition, BigInt(p.high)]))] as const),
    );
    const rows = ends.reduce((sum, [, highs]) => sum + [...highs.values()].reduce((a, b) => a + Number(b), 0), 0);
    const committedAll = async (groupId: string) => {
      const committed = await admin.fetchOffsets({ groupId, topics: sources.map((t) => t.name) });
      return ends.every(([name, highs]) =>
        [...highs].every(
          ([partition, high]) =>
            high === 0n || BigInt(committed.find((c) => c.topic === name)?.partitions.find((x) => x.partition === partition)?.offset ?? '-1') >= high,
        ),
      );
    };

    const baselineStart = performance.now();
    const consumer = kafka.consumer({ groupId: 'history-baseline', maxWaitTimeInMs: 100 });
    let read = 0;
    await consumer.connect();
    await consumer.subscribe({ topics: sources.map((t) => t.name), fromBeginning: true });
    const bySubject = new Map(sources.map((t) => [t.name, codecs.codecFor(t as Topic<unknown>)]));
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const codec = bySubject.get(batch.topic);
        for (const m of batch.messages) if (codec?.decodeKnown(m.value ?? null)?.ok) read++;
      },
    });
    while (read < rows) await sleep(20);
    const baselineSeconds = (performance.now() - baselineStart) / 1000;
    await consumer.disconnect();

    const started = performance.now();
    const child = spawn(process.execPath, ['history/main.ts'], {
      env: {
        PATH: process.env.PATH,
        NODE_OPTIONS: '--disable-warning=TimeoutNegativeWarning',
        KAFKA_BROKERS: bootstrap.join(','),
        CLICKHOUSE_PATH: mkdtempSync(join(tmpdir(), 'segstream-bench-chdb-')),
        HISTORY_GROUP_ID: 'bench-history',
        HISTORY_PORT: '0',
        HISTORY_HOST: '127.0.0.1',
        LOG_LEVEL: 'error',
      },
      stdio: 'inherit',
    });
    const cpuBefore = cpuSecondsOf(child.pid as number);
    try {
      let cpu = cpuBefore;
      while (!(await committedAll('bench-history'))) {
        if (child.exitCode !== null) throw new Error(`the history service exited with code ${child.exitCode}`);
        cpu = cpuSecondsOf(child.pid as number);
        await sleep(50);
      }
      const seconds = (performance.now() - started) / 1000;
      return {
        rows,
        seconds: Math.round(seconds * 10) / 10,
        rowsPerSecond: Math.round(rows / seconds),
        cpuMicrosPerRow: Math.round(((cpu - cpuBefore) / rows) * 1e6 * 10) / 10,
        baselineRowsPerSecond: Math.round(rows / baselineSeconds),
      };
    } finally {
      child.kill('SIGTERM');
    }
  } finally {
    await admin.disconnect();
  }
}

const target = Number(process.argv[2] ?? 150_000);
const liveRate = Number(process.argv[3] ?? 5_000);
const liveSeconds = 15;
const stateDir = resolve('.segstream/bench');
mkdirSync(stateDir, { recursive: true });
const logger = createLogger({ service: 'bench', level: 'error' });

const broker = await LocalKafka.start({ dir: resolve(stateDir, 'kafka') });
await ensureTopics(broker.bootstrap, Object.values(DEFAULT_TOPIC_NAMES), { partitions: 16, replicationFactor: 1 });
const redisServer = await startLocalRedis(stateDir);
const kafka = new Kafka({ clientId: 'bench', brokers: [...broker.bootstrap], logLevel: logLevel.NOTHING });
const catalog = await loadSchemaCatalog();
const topics = buildTopics(DEFAULT_TOPIC_NAMES, catalog);
const codecs = await createTopicCodecs(new FileSchemaRegistry(catalog), topics);

try {
  // Recent events, so windows and timers behave as in live traffic.
  const days = 60;
  const start = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()) - days * 86_400_000;
  const producer = new TopicProducer({ clientId: 'bench', brokers: broker.bootstrap }, codecs);
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
  console.log(`produced ${produced.toLocaleString('en-US')} events to 16 partitions`);

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
  // The Node process's main thread (JavaScript) is what bounds throughput; its other threads
  // are garbage collection, libuv and embedded ClickHouse.
  const cpuNow = () => ({
    node: process.cpuUsage(),
    mainThread: cpuSecondsOf(process.pid, process.pid),
    redis: cpuSecondsOf(redisServer.pid),
    broker: broker.pids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0),
  });
  const cpuSince = (from: ReturnType<typeof cpuNow>, events: number) => {
    const to = cpuNow();
    const node = (to.node.user - from.node.user + to.node.system - from.node.system) / 1e6;
    const micros = (seconds: number) => Math.round((seconds / events) * 1e6);
    return {
      nodeMicrosPerEvent: micros(node),
      nodeMainThreadMicrosPerEvent: micros(to.mainThread - from.mainThread),
      redisMicrosPerEvent: micros(to.redis - from.redis),
      brokerMicrosPerEvent: micros(to.broker - from.broker),
    };
  };
  const baselineCpu = cpuNow();
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
  const baselineCpuPerEvent = cpuSince(baselineCpu, produced);
  await baselineConsumer.disconnect();
  await redis.quit();
  const baselineRate = Math.round(produced / baselineSeconds);

  // Processor.
  const config = loadConfig(processorConfigSchema, {
    KAFKA_BROKERS: broker.bootstrap.join(','),
    REDIS_URL: redisServer.url,
    PROCESSOR_PORT: '0',
    PROCESSOR_HOST: '127.0.0.1',
    PROCESSOR_API_TOKENS: 'bench',
    SEGSTREAM_HMAC_SECRET: 'benchmark-secret-0123456789',
    ...(process.env.BENCH_PROCESSOR_ENV ? Object.fromEntries(process.env.BENCH_PROCESSOR_ENV.split(',').map((kv) => kv.split('='))) : {}),
    LOG_LEVEL: 'error',
  });
  const service = await createProcessorService(config, systemClock, logger);
  const counted = async () => (await service.metrics.events.get()).values.reduce((sum, v) => sum + v.value, 0);
  const latencyBuckets = async (histogram: typeof service.metrics.latency) =>
    (await histogram.get()).values
      .filter((v) => v.metricName?.endsWith('_bucket'))
      .map((v) => ({ le: v.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(v.labels.le), count: v.value }));
  const began = performance.now();
  const processorCpu = cpuNow();
  await service.lifecycle.start();
  let firstAt = 0;
  while ((await counted()) < produced) {
    if (!firstAt && (await counted()) > 0) firstAt = performance.now();
    await sleep(20);
  }
  const seconds = (performance.now() - (firstAt || began)) / 1000;
  const rate = Math.round(produced / seconds);
  const processorCpuPerEvent = cpuSince(processorCpu, produced);
  console.log(`baseline:  ${baselineRate.toLocaleString('en-US')} events/s (consume + decode + one pipelined Lua update per event)`);
  console.log(`processor: ${rate.toLocaleString('en-US')} events/s sustained over a backlog = ${Math.round((rate / baselineRate) * 100)}% of the baseline`);
  console.log(
    `CPU µs per event (node / of it the main thread / redis / broker): baseline ${Object.values(baselineCpuPerEvent).join(' / ')}, processor ${Object.values(processorCpuPerEvent).join(' / ')}`,
  );

  const history = await measureHistory(kafka, broker.bootstrap);
  console.log(
    `history:   ${history.rows.toLocaleString('en-US')} rows written in ${history.seconds} s = ${history.rowsPerSecond.toLocaleString('en-US')} rows/s, ${history.cpuMicrosPerRow} µs CPU per row (the service's process); baseline (read and decode the same records) ${history.baselineRowsPerSecond.toLocaleString('en-US')} rows/s`,
  );

  // Live: a steady load below capacity from another process, events stamped as received
  // when handed to Kafka. The first seconds (the group settling after the backlog) are left out.
  const liveLoad = promisify(execFile)(process.execPath, [
    join(import.meta.dirname, 'support', 'live-load.ts'),
    broker.bootstrap.join(','),
    String(liveRate),
    String(liveSeconds),
  ]);
  await sleep(3_000);
  const before = { received: await latencyBuckets(service.metrics.latency), fetched: await latencyBuckets(service.metrics.applyLatency) };
  const { sent: liveSent, seconds: liveSpan } = JSON.parse((await liveLoad).stdout.trim().split('\n').at(-1) ?? '{}') as { sent: number; seconds: number };
  const liveRateAchieved = Math.round(liveSent / liveSpan);
  while ((await counted()) < produced + liveSent) await sleep(20);
  const quantiles = async (histogram: typeof service.metrics.latency, from: readonly { le: number; count: number }[]) => {
    const delta = (await latencyBuckets(histogram)).map((b, i) => ({ le: b.le, count: b.count - (from[i]?.count ?? 0) }));
    return { p50: Math.round(histogramQuantile(delta, 0.5) * 10_000) / 10, p99: Math.round(histogramQuantile(delta, 0.99) * 10_000) / 10 };
  };
  const received = await quantiles(service.metrics.latency, before.received);
  const fetched = await quantiles(service.metrics.applyLatency, before.fetched);
  await service.lifecycle.stop();
  console.log(
    `live: ${liveSent.toLocaleString('en-US')} events at ${liveRateAchieved.toLocaleString('en-US')} events/s (latencies histogram-interpolated, first 3 s left out)`,
  );
  console.log(`  fetched from Kafka -> state updated: p50 ${fetched.p50} ms, p99 ${fetched.p99} ms`);
  console.log(`  received by ingest -> state updated (adds the Kafka hop): p50 ${received.p50} ms, p99 ${received.p99} ms`);

  const figures = {
    events: produced,
    partitions: 16,
    baselineEventsPerSecond: baselineRate,
    processorEventsPerSecond: rate,
    ratioToBaseline: Math.round((rate / baselineRate) * 100) / 100,
    cpuMicrosPerEvent: { baseline: baselineCpuPerEvent, processor: processorCpuPerEvent },
    history,
    live: { events: liveSent, eventsPerSecond: liveRateAchieved, fetchedToStateMs: fetched, receivedToStateMs: received },
  };
  console.log(`written to ${writeResults('processor', figures)}`);
} finally {
  await broker.stop();
  await terminate(redisServer.pid);
}
