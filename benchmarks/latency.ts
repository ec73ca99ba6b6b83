/**
 * End-to-end latency: from an event sent to ingest (POST /v1/batch) to the segment change
 * it causes appearing on segstream.segment-changes.v1, at steady rates, with everything on
 * this machine: Apache Kafka (one node), Redis, ingest and a processor in processes of
 * their own (as `./segstream run` starts them), the load in another process.
 *   ./segstream bench latency [seconds per rate] [rates, comma-separated]
 *
 * The segment rule ("odd": the member's event count over 30 days is odd) changes every
 * member's membership with each event, so every event causes exactly one segment change,
 * whose causeEventId is the event's messageId. Measured per event, in the same run:
 *   - acknowledged: sent -> ingest's 2xx (Kafka acknowledged, acks=all);
 *   - baseline: sent -> the event's own record visible to a consumer of the events topic;
 *   - end to end: sent -> its segment change visible to a consumer of the changes topic.
 * Sent is when the load process hands the request to its HTTP client; ingest stamps the
 * event received (receivedAt) a fraction of a millisecond later on loopback.
 * Service settings come from the environment (e.g. PROCESSOR_BATCH_SIZE=500 ./segstream
 * bench latency), so levers can be compared; the results name the ones set.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { createTopicCodecs } from '../lib/kafka/codecs.ts';
import { stopIdleRequestQueueTimer } from '../lib/kafka/kafkajs-idle-timer.ts';
import { RuleStore } from '../lib/rule-store/rule-store.ts';
import { loadSchemaCatalog } from '../schemas/catalog.ts';
import type { EventRecord, SegmentChangeRecord } from '../schemas/records.ts';
import { FileSchemaRegistry } from '../schemas/schema-registry.ts';
import { buildTopics, DEFAULT_TOPIC_NAMES } from '../schemas/topics.ts';
import { startServiceProcess } from '../scripts/demo/service-process.ts';
import { LocalKafka } from '../scripts/stack/local-kafka.ts';
import { freePort, terminate } from '../scripts/stack/processes.ts';
import { startLocalRedis } from '../scripts/stack/redis-server.ts';
import { ensureTopics } from '../scripts/stack/topics.ts';
import { writeResults } from './results.ts';

// Every kafkajs client of this process as the services run theirs (lib/kafka/kafkajs-idle-timer.ts).
stopIdleRequestQueueTimer();

const seconds = Number(process.argv[2] ?? 15);
const rates = (process.argv[3] ?? '1000,5000,10000').split(',').map(Number);
/** The first seconds of each rate are left out: the load ramps, fetch sizes and JIT settle. */
const WARMUP_SECONDS = 3;
const EVENTS_PER_REQUEST = 10;
const USERS = 20_000;
const PARTITIONS = 8;
const run = Date.now().toString(36);
const prefix = `lat${run}`;
const keyPrefix = `lat${run}:`;
const stateDir = resolve('.segstream/bench/latency');
rmSync(stateDir, { recursive: true, force: true });
mkdirSync(stateDir, { recursive: true });
const now = () => performance.timeOrigin + performance.now();

/** Variables of the services' that this run took from the environment (the levers). */
const LEVERS = Object.keys(process.env).filter((k) => /^(PROCESSOR_|INGEST_|KAFKA_CLIENT)/.test(k));

/** Busy share of the machine's CPUs between two readings of /proc/stat (everything on the machine, other work included). */
function cpuTimes(): { busy: number; total: number } {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  const total = fields.reduce((s, v) => s + v, 0);
  return { busy: total - idle, total };
}

/** Cumulative bucket counts of a histogram on the processor's /metrics, by upper bound in seconds. */
async function buckets(name: string): Promise<Map<number, number>> {
  const text = await (await fetch(`${processor.url}/metrics`)).text();
  const out = new Map<number, number>();
  for (const match of text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)$`, 'gm')))
    out.set(match[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(match[1]), Number(match[2]));
  return out;
}

/** p50 and p99 in ms from the difference of two cumulative histograms, interpolated within a bucket. */
function histogramQuantiles(from: Map<number, number>, to: Map<number, number>): { p50: number; p99: number } {
  const bounds = [...to.keys()].sort((a, b) => a - b);
  const counts = bounds.map((le) => (to.get(le) ?? 0) - (from.get(le) ?? 0));
  const total = counts.at(-1) ?? 0;
  const at = (q: number) => {
    const rank = q * total;
    for (let i = 0; i < bounds.length; i++) {
      if ((counts[i] as number) >= rank) {
        const lower = i === 0 ? 0 : (bounds[i - 1] as number);
        const upper = Number.isFinite(bounds[i]) ? (bounds[i] as number) : lower;
        const below = i === 0 ? 0 : (counts[i - 1] as number);
        const inBucket = (counts[i] as number) - below;
        return Math.round((lower + (inBucket > 0 ? ((rank - below) / inBucket) * (upper - lower) : 0)) * 10_000) / 10;
      }
    }
    return Number.NaN;
  };
  return { p50: at(0.5), p99: at(0.99) };
}

function quantiles(values: number[]): { p50: number; p99: number; max: number; count: number } {
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  const round = (v: number) => Math.round(v * 10) / 10;
  return { p50: round(at(0.5)), p99: round(at(0.99)), max: round(sorted[sorted.length - 1] ?? Number.NaN), count: sorted.length };
}

/** What runs, stopped in reverse order when the benchmark ends, or when a later step fails (a service that does not start). */
const running: (() => Promise<unknown>)[] = [];
async function stopRunning(): Promise<void> {
  for (const stop of running.splice(0).reverse()) await stop().catch(() => {});
}
async function orStop<T>(step: Promise<T>): Promise<T> {
  try {
    return await step;
  } catch (error) {
    await stopRunning();
    throw error;
  }
}

const broker = await orStop(LocalKafka.start({ dir: join(stateDir, 'kafka') }));
running.push(() => broker.stop());
await orStop(ensureTopics(broker.bootstrap, Object.values(DEFAULT_TOPIC_NAMES), { partitions: PARTITIONS, replicationFactor: 1 }));
const redisServer = await orStop(startLocalRedis(stateDir));
running.push(() => terminate(redisServer.pid));
const redis = new Redis(redisServer.url);
running.push(async () => redis.disconnect());
await orStop(
  new RuleStore(redis, keyPrefix).write(
    'odd',
    0,
    {
      id: 'odd',
      kind: 'segment',
      name: 'Odd',
      description: 'Members whose event count over 30 days is odd: every event moves them in or out',
      condition: { '==': [{ '%': [{ var: 'counters.events.30d.count' }, 2] }, 1] },
      active: true,
      updatedAt: Date.now(),
      updatedBy: 'bench',
    },
    { actor: 'bench', action: 'create', before: null, at: Date.now() },
  ),
);

const common = { ...process.env, KAFKA_BROKERS: broker.bootstrap.join(','), LOG_LEVEL: 'warn', SEGSTREAM_HMAC_SECRET: 'latency-benchmark-secret' };
const ingestPort = await freePort();
const ingest = await orStop(
  startServiceProcess(
    'ingest',
    'ingest/main.ts',
    { ...common, INGEST_HOST: '127.0.0.1', INGEST_PORT: String(ingestPort), INGEST_WRITE_KEYS: 'bench-key=web' },
    ingestPort,
    join(stateDir, 'ingest.log'),
  ),
);
running.push(() => ingest.stop());
const processorPort = await freePort();
const processor = await orStop(
  startServiceProcess(
    'processors',
    'processors/main.ts',
    {
      ...common,
      REDIS_URL: redisServer.url,
      REDIS_KEY_PREFIX: keyPrefix,
      CLICKHOUSE_PATH: join(stateDir, 'chdb'),
      PROCESSOR_HOST: '127.0.0.1',
      PROCESSOR_PORT: String(processorPort),
      PROCESSOR_API_TOKENS: 'bench',
    },
    processorPort,
    join(stateDir, 'processor.log'),
  ),
);
running.push(() => processor.stop());

// Watchers: when each event's record, and the segment change it caused, became visible.
const catalog = await loadSchemaCatalog();
const topics = buildTopics(DEFAULT_TOPIC_NAMES, catalog);
const codecs = await createTopicCodecs(new FileSchemaRegistry(catalog), topics);
const kafka = new Kafka({ clientId: 'latency-bench', brokers: [...broker.bootstrap], logLevel: logLevel.NOTHING });
const eventSeen = new Map<string, number>();
const changeSeen = new Map<string, number>();
const watchers = [
  { topic: topics.events.name, seen: eventSeen, id: (v: unknown) => (v as EventRecord).messageId, codec: codecs.codecFor(topics.events) },
  {
    topic: topics.segmentChanges.name,
    seen: changeSeen,
    id: (v: unknown) => (v as SegmentChangeRecord).causeEventId ?? '',
    codec: codecs.codecFor(topics.segmentChanges),
  },
].map(({ topic, seen, id, codec }) => {
  const consumer = kafka.consumer({ groupId: `latency-${run}-${topic}`, maxWaitTimeInMs: 100, minBytes: 1 });
  return {
    consumer,
    start: async () => {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      // No commits: kafkajs's autoCommit commits after each batch before fetching again, which
      // put 50 ms (p50) between a record's storing and its sight, on both topics alike.
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const at = now();
          for (const message of batch.messages) {
            const decoded = codec.decodeKnown(message.value) ?? (await codec.decode(message.value));
            if (decoded.ok && !seen.has(id(decoded.value))) seen.set(id(decoded.value), at);
          }
        },
      });
    },
  };
});
for (const watcher of watchers) {
  running.push(() => watcher.consumer.disconnect());
  await orStop(watcher.start());
}

let sequence = 0;
/** Runs the load at `rate` for `duration` seconds; returns its requests once all have been answered. */
async function load(rate: number, duration: number): Promise<[number, number, number, number, number][]> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      join(import.meta.dirname, 'support', 'http-load.ts'),
      `${ingest.url}/v1/batch`,
      'bench-key',
      String(rate),
      String(duration),
      String(EVENTS_PER_REQUEST),
      String(USERS),
      prefix,
      String(sequence),
    ],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  const { requests } = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { requests: [number, number, number, number, number][] };
  sequence = Math.max(sequence, ...requests.map(([first, count]) => first + count));
  return requests;
}

async function untilSeen(ids: readonly string[], timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let missing = ids.filter((id) => !changeSeen.has(id));
  while (missing.length > 0 && Date.now() < deadline) {
    await sleep(50);
    missing = missing.filter((id) => !changeSeen.has(id));
  }
  return missing.length;
}

const idsOf = (requests: readonly [number, number, number, number, number][]) =>
  requests.filter((r) => r[4] === 200).flatMap(([first, count]) => Array.from({ length: count }, (_, i) => `${prefix}-${first + i}`));

try {
  // Every user has state and the JIT is warm before anything is measured.
  const warm = await load(1_000, 4);
  const warmMissing = await untilSeen(idsOf(warm), 60_000);
  if (warmMissing > 0) throw new Error(`${warmMissing} warm-up events caused no segment change within 60 s; see ${processor.logFile}`);

  const results = [];
  for (const rate of rates) {
    const cpuBefore = cpuTimes();
    const histogramsBefore = {
      received: await buckets('segstream_processor_latency_seconds'),
      fetched: await buckets('segstream_processor_apply_latency_seconds'),
    };
    const requests = await load(rate, seconds + WARMUP_SECONDS);
    const cpuAfter = cpuTimes();
    const missing = await untilSeen(idsOf(requests), 60_000);
    const processorSide = {
      receivedToStateMs: histogramQuantiles(histogramsBefore.received, await buckets('segstream_processor_latency_seconds')),
      fetchedToStateMs: histogramQuantiles(histogramsBefore.fetched, await buckets('segstream_processor_apply_latency_seconds')),
    };
    const measureFrom = Math.min(...requests.map((r) => r[2])) + WARMUP_SECONDS * 1000;
    const measured = requests.filter((r) => r[2] >= measureFrom);
    const acknowledged = measured.filter((r) => r[4] === 200);
    const events = acknowledged.flatMap(([first, count, sentAt, answeredAt]) =>
      Array.from({ length: count }, (_, i) => ({ id: `${prefix}-${first + i}`, sentAt, answeredAt })),
    );
    const span = (Math.max(...measured.map((r) => r[2])) - measureFrom) / 1000;
    const figures = {
      targetEventsPerSecond: rate,
      achievedEventsPerSecond: Math.round((measured.length * EVENTS_PER_REQUEST) / span),
      events: events.length,
      refusedRequests: measured.length - acknowledged.length,
      changesMissing: missing,
      machineCpuBusy: Math.round(((cpuAfter.busy - cpuBefore.busy) / (cpuAfter.total - cpuBefore.total)) * 100) / 100,
      acknowledgedMs: quantiles(events.map((e) => e.answeredAt - e.sentAt)),
      baselineEventVisibleMs: quantiles(events.flatMap((e) => (eventSeen.has(e.id) ? [(eventSeen.get(e.id) as number) - e.sentAt] : []))),
      endToEndChangeVisibleMs: quantiles(events.flatMap((e) => (changeSeen.has(e.id) ? [(changeSeen.get(e.id) as number) - e.sentAt] : []))),
      /** The processor's own histograms over the whole phase (ramp included), interpolated within buckets. */
      processor: processorSide,
    };
    results.push(figures);
    const line = (name: string, q: { p50: number; p99: number; max: number }) => `${name} p50 ${q.p50} ms, p99 ${q.p99} ms, max ${q.max} ms`;
    console.log(
      [
        `${rate.toLocaleString('en-US')} events/s (achieved ${figures.achievedEventsPerSecond.toLocaleString('en-US')}, ${figures.events.toLocaleString('en-US')} events measured, machine CPU ${Math.round(figures.machineCpuBusy * 100)}% busy${figures.refusedRequests ? `, ${figures.refusedRequests} requests refused` : ''}${missing ? `, ${missing} changes missing` : ''}):`,
        `  ${line('sent -> 2xx (acks=all)               ', figures.acknowledgedMs)}`,
        `  ${line('baseline: sent -> event on its topic  ', figures.baselineEventVisibleMs)}`,
        `  ${line('sent -> segment change on its topic   ', figures.endToEndChangeVisibleMs)}`,
        `  processor's histograms: received -> state p50 ${processorSide.receivedToStateMs.p50} ms, p99 ${processorSide.receivedToStateMs.p99} ms; fetched -> state p50 ${processorSide.fetchedToStateMs.p50} ms, p99 ${processorSide.fetchedToStateMs.p99} ms`,
      ].join('\n'),
    );
  }
  const file = writeResults('latency', {
    setup: {
      kafka: `Apache Kafka ${broker.version}, 1 node, ${PARTITIONS} partitions`,
      secondsPerRate: seconds,
      warmupSecondsLeftOut: WARMUP_SECONDS,
      eventsPerRequest: EVENTS_PER_REQUEST,
      users: USERS,
      rule: 'segment "odd": counters.events.30d.count % 2 == 1 (one change per event)',
      levers: Object.fromEntries(LEVERS.map((k) => [k, process.env[k]])),
    },
    rates: results,
  });
  console.log(`results written to ${file}`);
} finally {
  await stopRunning();
}
