import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AssignerProtocol } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createKafka } from '../../lib/kafka/client.ts';
import { createTopicCodecs } from '../../lib/kafka/codecs.ts';
import { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import { createLogger } from '../../lib/logger.ts';
import { processorConfigSchema } from '../../processors/config.ts';
import { loadSchemaCatalog } from '../../schemas/catalog.ts';
import { FileSchemaRegistry } from '../../schemas/schema-registry.ts';
import { buildTopics, DEFAULT_TOPIC_NAMES, eventsTopicKey } from '../../schemas/topics.ts';
import { freePort } from '../../scripts/stack/processes.ts';
import { ensureTopics } from '../../scripts/stack/topics.ts';
import { toEventRecord } from '../workload/event-record.ts';
import { generateWorkload } from '../workload/generator.ts';

/*
 * Two processor replicas in one group with the default consumer-group settings; one is
 * killed with SIGKILL (no LeaveGroup), and the broker must hand its partitions to the
 * other once the killed one's session times out.
 */
const services = inject('services');
const run = Date.now();
const topic = `segstream.test.failover-events-${run}`;
const group = `failover-${run}`;
const PARTITIONS = 4;
const sessionTimeoutMs = processorConfigSchema.vars.PROCESSOR_SESSION_TIMEOUT_MS.defaultValue as number;
const logger = createLogger({ service: 'failover-test', level: 'fatal' });
const kafka = createKafka({ brokers: services.kafkaBrokers, clientId: 'failover-test' }, logger);
const admin = kafka.admin();
const replicas: ChildProcess[] = [];

afterAll(async () => {
  for (const replica of replicas) replica.kill('SIGKILL');
  await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  await admin.disconnect();
});

async function startReplica(): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['processors/main.ts'], {
    env: {
      PATH: process.env.PATH,
      NODE_OPTIONS: '--disable-warning=TimeoutNegativeWarning',
      KAFKA_BROKERS: services.kafkaBrokers.join(','),
      KAFKA_TOPIC_EVENTS: topic,
      REDIS_URL: services.redisUrl,
      REDIS_KEY_PREFIX: `failover${run}:`,
      CLICKHOUSE_PATH: mkdtempSync(join(tmpdir(), 'segstream-failover-chdb-')),
      PROCESSOR_GROUP_ID: group,
      PROCESSOR_HOST: '127.0.0.1',
      PROCESSOR_PORT: String(port),
      PROCESSOR_API_TOKENS: 't',
      SEGSTREAM_HMAC_SECRET: 'failover-test-secret-0123',
      LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  replicas.push(child);
  return { child, url: `http://127.0.0.1:${port}` };
}

/** Partitions of the events topic each member of the group holds now, by client host and member id. */
async function assignments(): Promise<number[][]> {
  const [described] = (await admin.describeGroups([group])).groups;
  if (described?.state !== 'Stable') return [];
  return described.members.map((m) => AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? []);
}

async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

async function eventsApplied(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('segstream_processor_events_total{'))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

describe('processor failover (needs Kafka, Redis, ClickHouse)', () => {
  it(`a killed replica's partitions move to the other replica within the session timeout (${sessionTimeoutMs} ms by default)`, async () => {
    await ensureTopics(services.kafkaBrokers, [topic], { partitions: PARTITIONS, replicationFactor: -1 });
    await admin.connect();
    const killed = await startReplica();
    await waitFor('the first replica holds every partition', 60_000, async () => ((await assignments()).flat().length === PARTITIONS ? true : undefined));
    const survivor = await startReplica();
    await waitFor('the partitions are shared by both replicas', 60_000, async () => {
      const now = await assignments();
      return now.length === 2 && now.every((p) => p.length === PARTITIONS / 2) ? true : undefined;
    });

    const killedAt = Date.now();
    killed.child.kill('SIGKILL');
    await waitFor('the survivor holds every partition', sessionTimeoutMs + 20_000, async () => {
      const now = await assignments();
      return now.length === 1 && now[0]?.length === PARTITIONS ? true : undefined;
    });
    const movedInMs = Date.now() - killedAt;
    console.log(`[failover] partitions moved ${movedInMs} ms after the SIGKILL (session timeout ${sessionTimeoutMs} ms)`);
    expect(movedInMs).toBeLessThan(sessionTimeoutMs + 5_000);

    // Events for every partition are applied by the survivor.
    const catalog = await loadSchemaCatalog();
    const topics = buildTopics({ ...DEFAULT_TOPIC_NAMES, events: topic }, catalog);
    const producer = new TopicProducer(
      { brokers: services.kafkaBrokers, clientId: 'failover-test' },
      await createTopicCodecs(new FileSchemaRegistry(catalog), topics),
    );
    await producer.connect();
    const events = [...generateWorkload({ seed: 12, members: 40, days: 2 })]
      .slice(0, 200)
      .map((e) => ({ key: eventsTopicKey(e.message), value: toEventRecord(e.message, e.at + 100, 'web') }));
    const acks = await producer.send(topics.events, events);
    await producer.disconnect();
    expect(new Set(acks.map((a) => a.partition)).size).toBe(PARTITIONS);
    await waitFor('the survivor applies every event', 60_000, async () => ((await eventsApplied(survivor.url)) >= events.length ? true : undefined));
  });
});
