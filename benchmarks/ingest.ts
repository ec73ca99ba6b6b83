/**
 * Ingest throughput: events/s accepted into Kafka (acks=all) and request latency, with
 * the ingest service in its own process, a local Apache Kafka (one node), and autocannon posting
 * realistic /v1/batch requests built from the workload generator, then the same events as
 * Sensors Data records to /sa (data_list, base64 of gzip JSON, form-encoded: what
 * sa-sdk-node sends), for the same time.
 *   ./segstream bench ingest [seconds] [connections] [eventsPerRequest]
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import autocannon from 'autocannon';
import { Kafka, logLevel } from 'kafkajs';
import { stopIdleRequestQueueTimer } from '../lib/kafka/kafkajs-idle-timer.ts';
import { DEFAULT_TOPIC_NAMES } from '../schemas/topics.ts';
import { startServiceProcess } from '../scripts/demo/service-process.ts';
import { LocalKafka } from '../scripts/stack/local-kafka.ts';
import { freePort } from '../scripts/stack/processes.ts';
import { ensureTopics } from '../scripts/stack/topics.ts';
import { generateWorkload } from '../test/workload/generator.ts';
import { writeResults } from './results.ts';

// Every kafkajs client of this process as the services run theirs (lib/kafka/kafkajs-idle-timer.ts).
stopIdleRequestQueueTimer();

const seconds = Number(process.argv[2] ?? 20);
const connections = Number(process.argv[3] ?? 16);
const eventsPerRequest = Number(process.argv[4] ?? 100);
const stateDir = resolve('.segstream/bench');
mkdirSync(stateDir, { recursive: true });

async function totalOffsets(kafka: Kafka): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(DEFAULT_TOPIC_NAMES.events);
  await admin.disconnect();
  return offsets.reduce((sum, p) => sum + Number(p.high), 0);
}

// 400 distinct request bodies of realistic events, cycled through by the connections.
const bodies: string[] = [];
let batch: unknown[] = [];
for (const event of generateWorkload({ seed: 11, members: 5_000, days: 30 })) {
  batch.push(event.message);
  if (batch.length === eventsPerRequest) {
    bodies.push(JSON.stringify({ batch, sentAt: new Date().toISOString() }));
    batch = [];
    if (bodies.length === 400) break;
  }
}
const meanBytes = Math.round(bodies.reduce((s, b) => s + b.length, 0) / bodies.length);

/** The same events as Sensors records, as sa-sdk-node posts them. */
const sensorsBodies = bodies.map((body) => {
  const records = (JSON.parse(body) as { batch: Record<string, unknown>[] }).batch.map((m) => ({
    type: m.type === 'identify' ? 'profile_set' : 'track',
    event: m.type === 'page' ? '$pageview' : m.type === 'identify' ? undefined : (m.event ?? '$AppViewScreen'),
    distinct_id: m.userId ?? m.anonymousId,
    time: Date.parse(String(m.timestamp ?? new Date().toISOString())),
    properties: m.type === 'identify' ? m.traits : { ...(m.properties as object), $lib: 'Node', $is_login_id: m.userId !== undefined },
    lib: { $lib: 'Node', $lib_version: '1.2.6' },
    _track_id: Math.floor(Math.random() * 1e9),
  }));
  return `data_list=${encodeURIComponent(gzipSync(JSON.stringify(records)).toString('base64'))}&gzip=1`;
});
const meanSensorsBytes = Math.round(sensorsBodies.reduce((s, b) => s + b.length, 0) / sensorsBodies.length);

const broker = await LocalKafka.start({ dir: resolve(stateDir, 'kafka') });
await ensureTopics(broker.bootstrap, Object.values(DEFAULT_TOPIC_NAMES), { partitions: 8, replicationFactor: 1 });
const ingestPort = await freePort();
const ingest = await startServiceProcess(
  'ingest',
  'ingest/main.ts',
  {
    ...process.env,
    KAFKA_BROKERS: broker.bootstrap.join(','),
    LOG_LEVEL: 'warn',
    INGEST_HOST: '127.0.0.1',
    INGEST_PORT: String(ingestPort),
    INGEST_WRITE_KEYS: 'bench-key=demo',
    SEGSTREAM_HMAC_SECRET: 'benchmark-secret-0123456789',
    INGEST_SENSORS_PROJECTS: 'bench=sensors',
  },
  ingestPort,
  resolve(stateDir, 'ingest.log'),
);
const kafka = new Kafka({ clientId: 'bench', brokers: [...broker.bootstrap], logLevel: logLevel.NOTHING });
/** Posts `payloads` to `path` for `seconds` and checks Kafka holds every event acknowledged. */
async function load(label: string, path: string, payloads: string[], headers: Record<string, string>, bytes: number) {
  const before = await totalOffsets(kafka);
  let next = 0;
  const result = await autocannon({
    url: `${ingest.url}${path}`,
    method: 'POST',
    connections,
    duration: seconds,
    headers,
    requests: [
      {
        setupRequest: (request) => {
          next = (next + 1) % payloads.length;
          return { ...request, body: payloads[next] };
        },
      },
    ],
  });
  const stored = (await totalOffsets(kafka)) - before;
  const ok = result['2xx'];
  const figures = {
    endpoint: path,
    seconds,
    connections,
    eventsPerRequest,
    meanRequestBytes: bytes,
    requests2xx: ok,
    requestsNon2xx: result.non2xx,
    errors: result.errors,
    eventsAcceptedPerSecond: Math.round((ok * eventsPerRequest) / result.duration),
    requestsPerSecond: Math.round(ok / result.duration),
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    eventsAcknowledged: ok * eventsPerRequest,
    eventsInKafka: stored,
  };
  console.log(
    `${label}: ${figures.eventsAcceptedPerSecond.toLocaleString('en-US')} events/s accepted into Kafka (acks=all), ${figures.requestsPerSecond} requests/s of ${eventsPerRequest} events (${bytes} bytes)`,
  );
  console.log(
    `  latency ms: p50 ${figures.latencyMs.p50}, p90 ${figures.latencyMs.p90}, p99 ${figures.latencyMs.p99}, max ${figures.latencyMs.max}; ${connections} connections, ${seconds} s`,
  );
  console.log(
    `  acknowledged ${figures.eventsAcknowledged.toLocaleString('en-US')} events, Kafka holds ${stored.toLocaleString('en-US')} more than before; non-2xx ${result.non2xx}, errors ${result.errors}`,
  );
  if (stored < figures.eventsAcknowledged) throw new Error(`${label}: Kafka holds fewer events than ingest acknowledged`);
  return figures;
}

try {
  const segment = await load(
    'ingest /v1/batch',
    '/v1/batch',
    bodies,
    { authorization: `Basic ${Buffer.from('bench-key:').toString('base64')}`, 'content-type': 'application/json' },
    meanBytes,
  );
  const sensors = await load(
    'ingest /sa (Sensors data_list, gzip)',
    '/sa?project=bench',
    sensorsBodies,
    { 'content-type': 'application/x-www-form-urlencoded' },
    meanSensorsBytes,
  );
  console.log(`written to ${writeResults('ingest', { ...segment, sensors })}`);
} finally {
  await ingest.stop();
  await broker.stop();
}
