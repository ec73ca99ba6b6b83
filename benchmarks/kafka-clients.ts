/**
 * Kafka clients for Node against the same broker (Apache Kafka, one local node): kafkajs
 * (what lib/kafka/ uses; unmaintained since 2023) and @platformatic/kafka (pure TypeScript,
 * maintained), the latter also with the KIP-848 consumer group protocol. Each scenario runs
 * in a process of its own (benchmarks/support/kafka-client-run.ts) on a topic of its own.
 *   ./segstream bench kafka-clients [records] [rounds]
 * Figures: produce rate (ingest's pattern, and many small concurrent sends), consume rate,
 * CPU per record (the client's process, and the broker's), produce-to-consume latency,
 * idempotence (the stored batches carry a producer id, and nothing is stored twice), and
 * what a member joining and leaving the group costs in latency. kafkajs is the baseline.
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, type KafkaMessage, logLevel } from 'kafkajs';
import { stopIdleRequestQueueTimer } from '../lib/kafka/kafkajs-idle-timer.ts';
import { LocalKafka } from '../scripts/stack/local-kafka.ts';
import { ensureTopics } from '../scripts/stack/topics.ts';
import { writeResults } from './results.ts';
import { cpuSecondsOf } from './support/cpu.ts';

// Every kafkajs client of this process as the services run theirs (lib/kafka/kafkajs-idle-timer.ts).
stopIdleRequestQueueTimer();

const count = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 2);
const CLIENTS = ['kafkajs', 'platformatic', 'platformatic-848'] as const;
const PARTITIONS = 8;
const stateDir = resolve('.segstream/bench/kafka-clients');
mkdirSync(stateDir, { recursive: true });

const broker = await LocalKafka.start({ dir: join(stateDir, 'kafka') });
const kafka = new Kafka({ clientId: 'bench-clients', brokers: [...broker.bootstrap], logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
const brokerCpu = () => broker.pids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0);

async function scenario(client: string, name: string, topic: string, records = count): Promise<Record<string, unknown>> {
  const before = brokerCpu();
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [join(import.meta.dirname, 'support', 'kafka-client-run.ts'), client, name, broker.bootstrap.join(','), topic, String(records)],
    { maxBuffer: 64 * 1024 * 1024, timeout: 300_000 },
  );
  const figures = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
  const brokerSeconds = brokerCpu() - before;
  return typeof figures.records === 'number' && (name === 'produce' || name === 'produce-small' || name === 'consume')
    ? { ...figures, brokerCpuMicrosPerRecord: Math.round((brokerSeconds / figures.records) * 1e6 * 10) / 10 }
    : figures;
}

/** Records stored in the topic, and whether its batches carry a producer id (an idempotent producer's). */
async function stored(topic: string): Promise<{ records: number; producerIds: number[] }> {
  const records = (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);
  const consumer = kafka.consumer({ groupId: `bench-clients-check-${Date.now()}`, maxWaitTimeInMs: 100 });
  const producerIds = new Set<number>();
  let done: () => void = () => {};
  const found = new Promise<void>((r) => {
    done = r;
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      producerIds.add(Number((message as KafkaMessage & { batchContext: { producerId: string } }).batchContext.producerId));
      done();
    },
  });
  await found;
  await consumer.disconnect();
  return { records, producerIds: [...producerIds] };
}

const round1 = (v: unknown) => (typeof v === 'number' ? Math.round(v * 10) / 10 : v);
const results: Record<string, Record<string, unknown>[]> = {};
try {
  for (let round = 1; round <= rounds; round++) {
    const produced = new Map<string, string>();
    for (const client of CLIENTS) {
      const tag = `${client}-${round}-${Date.now()}`;
      const topics = { produce: `bench.${tag}.produce`, small: `bench.${tag}.small`, latency: `bench.${tag}.latency`, rebalance: `bench.${tag}.rebalance` };
      await ensureTopics(broker.bootstrap, Object.values(topics), { partitions: PARTITIONS, replicationFactor: 1 });
      const figures: Record<string, unknown> = { round };
      // The KIP-848 variant differs only in its consumer group protocol: its producer is platformatic's.
      if (client !== 'platformatic-848') {
        figures.produce = await scenario(client, 'produce', topics.produce);
        produced.set(client, topics.produce);
        figures.idempotence = await stored(topics.produce);
        figures.produceSmall = await scenario(client, 'produce-small', topics.small, Math.round(count / 5));
      }
      figures.consume = await scenario(client, 'consume', produced.get(client === 'platformatic-848' ? 'platformatic' : client) as string);
      figures.latency = await scenario(client, 'latency', topics.latency);
      figures.rebalance = await scenario(client, 'rebalance', topics.rebalance);
      for (const value of Object.values(figures))
        if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) (value as Record<string, unknown>)[k] = round1(v);
      results[client] = [...(results[client] ?? []), figures];
      console.log(`${client} (round ${round}): ${JSON.stringify(figures)}`);
    }
  }
  const file = writeResults('kafka-clients', {
    setup: { kafka: `Apache Kafka ${broker.version}, 1 node, ${PARTITIONS} partitions per topic`, records: count, rounds, baseline: 'kafkajs' },
    clients: results,
  });
  console.log(`results written to ${file}`);
} finally {
  await admin.disconnect();
  await broker.stop();
}
