import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { LocalKafka } from '../../scripts/stack/local-kafka.ts';
import type { StackState } from '../../scripts/stack/local-stack.ts';
import { isAlive } from '../../scripts/stack/processes.ts';

const run = promisify(execFile);
const stateDir = mkdtempSync(join(tmpdir(), 'segstream-stack-'));
const stackCli = resolve('scripts/stack.ts');

function stack(command: string, env: Record<string, string> = {}) {
  return run(process.execPath, [stackCli, command], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, SEGSTREAM_STATE_DIR: stateDir, KAFKA_PARTITIONS: '2', ...env },
  });
}

const readState = () => JSON.parse(readFileSync(join(stateDir, 'stack.json'), 'utf8')) as StackState;
const admin = (brokers: readonly string[]) => new Kafka({ clientId: 'stack-test', brokers: [...brokers], logLevel: logLevel.NOTHING }).admin();
const commandLine = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');

afterAll(async () => {
  await stack('down').catch(() => {});
  rmSync(stateDir, { recursive: true, force: true });
});

describe('scripts/stack.ts (needs redis-server and Java)', () => {
  it('brings Redis and Apache Kafka up, records them in an env file, reuses them, and stops them', async () => {
    const first = await stack('up');
    expect(first.stdout).toMatch(/redis\s+redis:\/\/127\.0\.0\.1:\d+ \(local, pid \d+\)/);
    expect(first.stdout).toMatch(/kafka: Apache Kafka 4\.\d+\.\d+ started in \d+ ms/);
    const state = readState();
    const env = readFileSync(join(stateDir, 'stack.env'), 'utf8');
    expect(env).toContain(`REDIS_URL=${state.redis.url}`);
    expect(env).toContain(`KAFKA_BROKERS=${state.kafka.brokers.join(',')}`);
    expect(env).toContain('KAFKA_TOPIC_EVENTS=segstream.events.v1');
    // They hold the history read token: readable by their owner only.
    for (const file of ['stack.env', 'stack.json']) expect(statSync(join(stateDir, file)).mode & 0o077, file).toBe(0);
    const status = (await stack('status')).stdout;
    expect(status).toContain(state.redis.url);
    expect(status).toContain(`local Apache Kafka ${state.kafka.version}, 1 node: pid ${state.kafka.pids[0]}`);
    expect(status).not.toContain(state.env.HISTORY_READ_TOKENS as string);

    // One JVM running Kafka itself, one broker in the cluster.
    expect(state.kafka.pids).toHaveLength(1);
    const pid = state.kafka.pids[0] as number;
    expect(commandLine(pid)).toContain('kafka.Kafka');
    const client = admin(state.kafka.brokers);
    await client.connect();
    try {
      expect((await client.describeCluster()).brokers).toHaveLength(1);
      // Every product topic exists with the configured partition count, one replica each.
      const metadata = await client.fetchTopicMetadata({ topics: ['segstream.events.v1', 'segstream.dlq.v1'] });
      expect(metadata.topics.map((t) => t.partitions.length)).toEqual([2, 2]);
      expect(metadata.topics.flatMap((t) => t.partitions.map((p) => p.replicas.length))).toEqual([1, 1, 1, 1]);
    } finally {
      await client.disconnect();
    }

    // A second start finds the same processes instead of starting new ones.
    const second = await stack('up');
    expect(second.stdout).not.toContain('started in');
    expect(readState()).toEqual(state);

    const down = await stack('down');
    expect(down.stdout).toContain(`kafka (pid ${pid})`);
    expect(isAlive(pid)).toBe(false);
    expect(isAlive(state.redis.pid as number)).toBe(false);
    expect(existsSync(join(stateDir, 'stack.env'))).toBe(false);
    expect(existsSync(join(stateDir, 'kafka'))).toBe(false);
  });

  it("uses the user's own Redis and Kafka when REDIS_URL and KAFKA_BROKERS are set, starting neither, and creates the topics on that Kafka", async () => {
    const services = inject('services');
    const topic = `segstream.test.stack-${Date.now()}`;
    const out = await stack('up', { REDIS_URL: services.redisUrl, KAFKA_BROKERS: services.kafkaBrokers.join(','), KAFKA_TOPIC_DLQ: topic });
    expect(out.stdout).toContain(`redis       ${services.redisUrl} (yours)`);
    expect(out.stdout).toContain(`kafka       ${services.kafkaBrokers.join(',')} (yours)`);
    expect(readState().redis.pid).toBeNull();
    expect(readState().kafka.pids).toEqual([]);
    expect(existsSync(join(stateDir, 'kafka'))).toBe(false);
    const client = admin(services.kafkaBrokers);
    await client.connect();
    try {
      const metadata = await client.fetchTopicMetadata({ topics: [topic] });
      expect(metadata.topics[0]?.partitions).toHaveLength(2);
      await client.deleteTopics({ topics: [topic] });
    } finally {
      await client.disconnect();
    }
    await stack('down');
  });

  it("starts Apicurio Registry with SCHEMA_REGISTRY=local, registers every schema with the files' ids, reuses it, and stops it", async () => {
    const services = inject('services');
    const env = { REDIS_URL: services.redisUrl, KAFKA_BROKERS: services.kafkaBrokers.join(','), SCHEMA_REGISTRY: 'local' };
    const first = await stack('up', env);
    expect(first.stdout).toMatch(/schema registry: Apicurio Registry 3\.\d+\.\d+ started in \d+ ms/);
    const state = readState();
    const registry = state.schemaRegistry;
    expect(registry).toMatchObject({ url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7$/), otherIds: [] });
    expect(readFileSync(join(stateDir, 'stack.env'), 'utf8')).toContain(`SCHEMA_REGISTRY_URL=${registry?.url}`);
    expect(first.stdout).toContain(`schemas     ${registry?.url} (local Apicurio Registry`);
    const subjects = (await (await fetch(`${registry?.url}/subjects`)).json()) as string[];
    expect(subjects.sort()).toEqual([
      'segstream.DeadLetter',
      'segstream.Event',
      'segstream.IdentityChange',
      'segstream.LifecycleTransition',
      'segstream.MemberEvent',
      'segstream.SegmentChange',
      'segstream.TriggerFiring',
    ]);
    expect(await (await fetch(`${registry?.url}/subjects/segstream.Event/versions`)).json()).toEqual([1, 2]);
    expect(await (await fetch(`${registry?.url}/config/segstream.Event`)).json()).toMatchObject({ compatibilityLevel: 'FULL_TRANSITIVE' });

    const second = await stack('up', env);
    expect(second.stdout).not.toContain('started in');
    expect(readState().schemaRegistry).toEqual(registry);
    const down = await stack('down');
    expect(down.stdout).toContain(`schema registry (pid ${registry?.pid})`);
    expect(isAlive(registry?.pid as number)).toBe(false);
    expect(existsSync(join(stateDir, 'schema-registry'))).toBe(false);
  });

  it('refuses bad configuration, naming the variable', async () => {
    await expect(stack('up', { KAFKA_PARTITIONS: 'many' })).rejects.toMatchObject({
      stderr: expect.stringContaining('KAFKA_PARTITIONS: expected an integer from 1 to 1024, received "many"'),
    });
    await expect(stack('up', { KAFKA_LOCAL_BROKERS: '0' })).rejects.toMatchObject({
      stderr: expect.stringContaining('KAFKA_LOCAL_BROKERS: expected an integer from 1 to 9, received "0"'),
    });
  });

  it('starts a cluster of three with KAFKA_LOCAL_BROKERS=3: topics with 3 replicas and min.insync.replicas=2', async () => {
    const out = await stack('up', { KAFKA_LOCAL_BROKERS: '3' });
    expect(out.stdout).toContain('3 nodes');
    const state = readState();
    expect(state.kafka.pids).toHaveLength(3);
    expect(state.kafka.brokers).toHaveLength(3);
    const client = admin(state.kafka.brokers);
    await client.connect();
    try {
      expect((await client.describeCluster()).brokers).toHaveLength(3);
      const [events] = (await client.fetchTopicMetadata({ topics: ['segstream.events.v1'] })).topics;
      expect(events?.partitions.map((p) => p.replicas.length)).toEqual([3, 3]);
      expect(events?.partitions.map((p) => p.isr.length)).toEqual([3, 3]);
      const configs = await client.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: 2, name: 'segstream.events.v1', configNames: ['min.insync.replicas'] }],
      });
      expect(configs.resources[0]?.configEntries[0]?.configValue).toBe('2');
    } finally {
      await client.disconnect();
    }
    await stack('down');
    for (const pid of state.kafka.pids) expect(isAlive(pid), `pid ${pid}`).toBe(false);
  });

  it('a local Kafka can be taken down and brought back with its data, for outage tests', async () => {
    const kafka = await LocalKafka.start({ dir: join(stateDir, 'outage-kafka') });
    const client = new Kafka({
      clientId: 'outage-test',
      brokers: [...kafka.bootstrap],
      logLevel: logLevel.NOTHING,
      retry: { retries: 1, initialRetryTime: 100 },
    });
    const setup = client.admin();
    const producer = client.producer();
    try {
      await setup.connect();
      await setup.createTopics({ waitForLeaders: true, topics: [{ topic: 'outage', numPartitions: 1, replicationFactor: 1 }] });
      await setup.disconnect();
      await producer.connect();
      await producer.send({ topic: 'outage', acks: -1, messages: [{ value: 'before' }] });
      await kafka.down();
      await expect(producer.send({ topic: 'outage', acks: -1, timeout: 1_000, messages: [{ value: 'during' }] })).rejects.toThrow();
      await kafka.up();
      const deadline = Date.now() + 30_000;
      let delivered = false;
      while (!delivered && Date.now() < deadline) {
        delivered = await producer.send({ topic: 'outage', acks: -1, messages: [{ value: 'after' }] }).then(
          () => true,
          () => false,
        );
      }
      expect(delivered).toBe(true);
      // What was stored before the outage is still there.
      const reader = new Kafka({ clientId: 'outage-test-reader', brokers: [...kafka.bootstrap], logLevel: logLevel.NOTHING });
      const consumer = reader.consumer({ groupId: `outage-${Date.now()}` });
      const values: string[] = [];
      await consumer.connect();
      await consumer.subscribe({ topic: 'outage', fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void values.push(String(message.value)) });
      const readBy = Date.now() + 30_000;
      while (!values.includes('after') && Date.now() < readBy) await sleep(50);
      await consumer.disconnect();
      expect(values[0]).toBe('before');
      expect(values).toContain('after');
    } finally {
      await producer.disconnect().catch(() => {});
      const pids = [...kafka.pids];
      await kafka.stop();
      for (const pid of pids) expect(isAlive(pid)).toBe(false);
    }
  });
});
