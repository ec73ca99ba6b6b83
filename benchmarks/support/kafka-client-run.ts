/**
 * One Kafka client doing one scenario, in a process of its own so that its CPU time is its
 * own. Run by benchmarks/kafka-clients.ts.
 *   node benchmarks/support/kafka-client-run.ts <client> <scenario> <brokers> <topic> <count>
 * client: kafkajs | platformatic | platformatic-848 (the KIP-848 consumer group protocol)
 * scenario:
 *   produce      <count> Avro events keyed by member, acks=all, idempotent, sends of 500 one at a time (ingest's pattern)
 *   produce-small <count> events as sends of 10 records, 64 at a time (many requests each waiting for its own acknowledgement)
 *   consume      the topic from its start until <count> records, in a new consumer group
 *   latency      500 records/s for 8 s, each sent alone and timed until a consumer of the group sees it
 *   rebalance    a steady 1,000 records/s; a second member joins after 4 s and leaves (closes) after 10 s; the
 *                longest time any record waited to be consumed, around the join and around the leave
 * Prints one JSON line of figures; cpuMicrosPerRecord is this process's user+system time.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Consumer as PConsumer, Producer as PProducer, ProduceAcks } from '@platformatic/kafka';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { createTopicCodecs } from '../../lib/kafka/codecs.ts';
import { stopIdleRequestQueueTimer } from '../../lib/kafka/kafkajs-idle-timer.ts';
import { loadSchemaCatalog } from '../../schemas/catalog.ts';
import { FileSchemaRegistry } from '../../schemas/schema-registry.ts';
import { buildTopics, DEFAULT_TOPIC_NAMES, eventsTopicKey } from '../../schemas/topics.ts';
import { toEventRecord } from '../../test/workload/event-record.ts';
import { generateWorkload } from '../../test/workload/generator.ts';

// Every kafkajs client of this process as the services run theirs (lib/kafka/kafkajs-idle-timer.ts).
stopIdleRequestQueueTimer();

const [client = 'kafkajs', scenario = 'produce', brokersText = '', topic = '', countText = '100000'] = process.argv.slice(2);
const brokers = brokersText.split(',');
const count = Number(countText);

interface Rec {
  readonly key: Buffer;
  readonly value: Buffer;
}
interface BenchProducer {
  send(records: readonly Rec[]): Promise<void>;
  close(): Promise<void>;
}
interface BenchConsumer {
  close(): Promise<void>;
}
type OnRecords = (values: readonly Buffer[]) => void;

function kafkajsClient() {
  const kafka = new Kafka({ clientId: `bench-${client}`, brokers, logLevel: logLevel.NOTHING });
  return {
    async producer(): Promise<BenchProducer> {
      // As lib/kafka/topic-producer.ts: murmur2 partitioner, one request in flight, idempotent.
      const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      return {
        send: async (records) => void (await producer.send({ topic, acks: -1, messages: records.map((r) => ({ key: r.key, value: r.value })) })),
        close: () => producer.disconnect(),
      };
    },
    async consumer(groupId: string, onRecords: OnRecords): Promise<BenchConsumer> {
      // As the processors: records as soon as any are there, 100 ms fetch wait otherwise.
      const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, minBytes: 1, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      // Offsets committed every 5 s, as the Java client's auto.commit.interval.ms: kafkajs's
      // default commits after every batch before fetching again (in the latency benchmark
      // that alone put about 50 ms, p50, between a record's storing and its sight).
      await consumer.run({ autoCommitInterval: 5_000, eachBatch: async ({ batch }) => onRecords(batch.messages.map((m) => m.value as Buffer)) });
      return { close: () => consumer.disconnect() };
    },
  };
}

function platformaticClient(protocol: 'classic' | 'consumer') {
  const base = { clientId: `bench-${client}`, bootstrapBrokers: brokers };
  return {
    async producer(): Promise<BenchProducer> {
      const producer = new PProducer({ ...base, idempotent: true, acks: ProduceAcks.ALL });
      return {
        send: async (records) => void (await producer.send({ messages: records.map((r) => ({ topic, key: r.key, value: r.value })) })),
        close: () => producer.close(),
      };
    },
    async consumer(groupId: string, onRecords: OnRecords): Promise<BenchConsumer> {
      const consumer =
        protocol === 'consumer'
          ? new PConsumer({ ...base, groupId, groupProtocol: 'consumer', maxWaitTime: 100, minBytes: 1 })
          : new PConsumer({ ...base, groupId, maxWaitTime: 100, minBytes: 1, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
      const stream = await consumer.consume({ topics: [topic], mode: 'earliest', fallbackMode: 'earliest', autocommit: true });
      stream.on('data', (message: { value: Buffer }) => onRecords([message.value]));
      stream.on('error', () => {});
      return {
        close: async () => {
          await stream.close();
          await consumer.close(true);
        },
      };
    },
  };
}

const clients = { kafkajs: () => kafkajsClient(), platformatic: () => platformaticClient('classic'), 'platformatic-848': () => platformaticClient('consumer') };
const make = clients[client as keyof typeof clients];
if (!make) throw new Error(`unknown client ${client}; expected ${Object.keys(clients).join(', ')}`);
const api = make();

/** Realistic records: Avro events of the workload in the wire format, keyed as ingest keys them. */
async function records(n: number): Promise<Rec[]> {
  const catalog = await loadSchemaCatalog();
  const topics = buildTopics(DEFAULT_TOPIC_NAMES, catalog);
  const codec = (await createTopicCodecs(new FileSchemaRegistry(catalog), topics)).codecFor(topics.events);
  const out: Rec[] = [];
  for (const e of generateWorkload({ seed: 9, members: 20_000, days: 30 })) {
    out.push({ key: Buffer.from(eventsTopicKey(e.message)), value: codec.encode(toEventRecord(e.message, e.at + 100, 'web')) });
    if (out.length === n) break;
  }
  return out;
}

/** A record carrying its send time, for latency: 8 bytes of time then padding to a typical event's size. */
function stamped(i: number): Rec {
  const value = Buffer.alloc(400);
  value.writeDoubleBE(performance.timeOrigin + performance.now(), 0);
  return { key: Buffer.from(`member-${i % 1000}`), value };
}
const sentAtOf = (value: Buffer) => value.readDoubleBE(0);

function quantiles(values: number[]) {
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => Math.round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN) * 10) / 10;
  return { p50: at(0.5), p99: at(0.99), max: at(1) };
}

const cpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const wall = () => performance.timeOrigin + performance.now();

async function produce(batchSize: number, concurrency: number) {
  const all = await records(count);
  const producer = await api.producer();
  await producer.send(all.slice(0, 1)); // connected, producer id fetched
  const cpu0 = cpu();
  const t0 = performance.now();
  let next = 1;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < all.length) {
        const from = next;
        next += batchSize;
        await producer.send(all.slice(from, Math.min(from + batchSize, all.length)));
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const figures = { records: all.length - 1, recordsPerSecond: Math.round((all.length - 1) / seconds), cpuMicrosPerRecord: (cpu() - cpu0) / (all.length - 1) };
  await producer.close();
  return figures;
}

async function consume() {
  let seen = 0;
  let first = 0;
  let cpu0 = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => {
    done = r;
  });
  const consumer = await api.consumer(`bench-${client}-${Date.now()}`, (values) => {
    if (seen === 0) {
      first = performance.now();
      cpu0 = cpu();
    }
    seen += values.length;
    if (seen >= count) done();
  });
  await finished;
  const seconds = (performance.now() - first) / 1000;
  const figures = { records: seen, recordsPerSecond: Math.round(seen / seconds), cpuMicrosPerRecord: (cpu() - cpu0) / seen };
  await consumer.close();
  return figures;
}

/** Sends `rate` records/s, one send each, until `stop()`; resolves with how many were sent. */
function steadyLoad(producer: BenchProducer, rate: number) {
  let running = true;
  let sent = 0;
  const started = performance.now();
  const sends = new Set<Promise<void>>();
  const done = (async () => {
    while (running) {
      const due = Math.floor(((performance.now() - started) / 1000) * rate);
      while (sent < due) {
        const p = producer.send([stamped(sent++)]);
        sends.add(p);
        void p.finally(() => sends.delete(p));
      }
      await sleep(2);
    }
    await Promise.all(sends);
    return sent;
  })();
  return {
    stop: () => {
      running = false;
      return done;
    },
  };
}

async function latency() {
  const latencies: number[] = [];
  const consumer = await api.consumer(`bench-${client}-lat-${Date.now()}`, (values) => {
    const at = wall();
    for (const v of values) if (v.length === 400) latencies.push(at - sentAtOf(v));
  });
  const producer = await api.producer();
  await producer.send([stamped(0)]);
  // Until the consumer sees records (it has joined and fetched).
  while (latencies.length === 0) await sleep(20);
  latencies.length = 0;
  const load = steadyLoad(producer, 500);
  await sleep(8_000);
  const sent = await load.stop();
  while (latencies.length < sent) await sleep(20);
  await producer.close();
  await consumer.close();
  return { records: sent, ...quantiles(latencies) };
}

async function rebalance() {
  const groupId = `bench-${client}-rb-${Date.now()}`;
  const seen: { at: number; latency: number; member: number }[] = [];
  const onRecords = (member: number) => (values: readonly Buffer[]) => {
    const at = wall();
    for (const v of values) if (v.length === 400) seen.push({ at, latency: at - sentAtOf(v), member });
  };
  const first = await api.consumer(groupId, onRecords(1));
  const producer = await api.producer();
  await producer.send([stamped(0)]);
  while (seen.length === 0) await sleep(20);
  const load = steadyLoad(producer, 1_000);
  await sleep(4_000);
  const joinAt = wall();
  const second = await api.consumer(groupId, onRecords(2));
  while (!seen.some((s) => s.member === 2)) await sleep(20);
  const secondConsumingAfterMs = wall() - joinAt;
  await sleep(6_000);
  const leaveAt = wall();
  await second.close();
  await sleep(6_000);
  const sent = await load.stop();
  const deadline = Date.now() + 60_000;
  while (seen.length <= sent && Date.now() < deadline) await sleep(20);
  await producer.close();
  await first.close();
  const worst = (from: number, to: number) => Math.round(Math.max(0, ...seen.filter((s) => s.at >= from && s.at < to).map((s) => s.latency)));
  const steady = quantiles(seen.filter((s) => s.at < joinAt).map((s) => s.latency));
  return {
    steadyBeforeJoinMs: steady,
    secondConsumingAfterMs: Math.round(secondConsumingAfterMs),
    worstLatencyAroundJoinMs: worst(joinAt, joinAt + 6_000),
    worstLatencyAroundLeaveMs: worst(leaveAt, leaveAt + 6_000),
    recordsSent: sent,
    recordsSeen: seen.length,
  };
}

const scenarios: Record<string, () => Promise<object>> = {
  produce: () => produce(500, 1),
  'produce-small': () => produce(10, 64),
  consume,
  latency,
  rebalance,
};
const run = scenarios[scenario];
if (!run) throw new Error(`unknown scenario ${scenario}; expected ${Object.keys(scenarios).join(', ')}`);
console.log(JSON.stringify(await run()));
process.exit(0);
