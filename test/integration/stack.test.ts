import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { StackState } from '../../scripts/stack/local-stack.ts';
import { MockBroker } from '../../scripts/stack/mock-broker.ts';
import { isAlive } from '../../scripts/stack/processes.ts';

const run = promisify(execFile);
const stateDir = mkdtempSync(join(tmpdir(), 'segstream-stack-'));
const stackCli = resolve('scripts/stack.ts');

function stack(command: string, env: Record<string, string> = {}) {
  return run(process.execPath, [stackCli, command], { env: { PATH: process.env.PATH, SEGSTREAM_STATE_DIR: stateDir, KAFKA_PARTITIONS: '2', ...env } });
}

const readState = () => JSON.parse(readFileSync(join(stateDir, 'stack.json'), 'utf8')) as StackState;

afterAll(async () => {
  await stack('down').catch(() => {});
  rmSync(stateDir, { recursive: true, force: true });
});

describe('scripts/stack.ts (needs redis-server and librdkafka)', () => {
  it('brings Redis and the broker up, records them in an env file, reuses them, and stops them', async () => {
    const first = await stack('up');
    expect(first.stdout).toMatch(/redis\s+redis:\/\/127\.0\.0\.1:\d+ \(local, pid \d+\)/);
    const state = readState();
    const env = readFileSync(join(stateDir, 'stack.env'), 'utf8');
    expect(env).toContain(`REDIS_URL=${state.redis.url}`);
    expect(env).toContain(`KAFKA_BROKERS=${state.kafka.brokers.join(',')}`);
    expect(env).toContain('KAFKA_TOPIC_EVENTS=segstream.events.v1');
    // They hold the warehouse token: readable by their owner only.
    for (const file of ['stack.env', 'stack.json']) expect(statSync(join(stateDir, file)).mode & 0o077, file).toBe(0);
    const status = (await stack('status')).stdout;
    expect(status).toContain(state.redis.url);
    expect(status).not.toContain(state.env.QUERY_WAREHOUSE_TOKEN as string);
    expect(state.kafka.brokers).toHaveLength(3);

    // Every product topic exists with the configured partition count.
    const admin = new Kafka({ clientId: 'stack-test', brokers: [...state.kafka.brokers], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const metadata = await admin.fetchTopicMetadata({ topics: ['segstream.events.v1', 'segstream.dlq.v1'] });
    await admin.disconnect();
    expect(metadata.topics.map((t) => t.partitions.length)).toEqual([2, 2]);

    // A second start finds the same processes instead of starting new ones.
    await stack('up');
    expect(readState()).toEqual(state);

    const down = await stack('down');
    expect(down.stdout).toContain(`kafka (pid ${state.kafka.pid})`);
    expect(isAlive(state.kafka.pid as number)).toBe(false);
    expect(isAlive(state.redis.pid as number)).toBe(false);
    expect(existsSync(join(stateDir, 'stack.env'))).toBe(false);
  });

  it("uses the user's own Redis when REDIS_URL is set, starting none", async () => {
    const redisUrl = inject('services').redisUrl;
    const out = await stack('up', { REDIS_URL: redisUrl });
    expect(out.stdout).toContain(`redis       ${redisUrl} (yours)`);
    expect(readState().redis.pid).toBeNull();
    await stack('down');
  });

  it('refuses bad configuration, naming the variable', async () => {
    await expect(stack('up', { KAFKA_PARTITIONS: 'many' })).rejects.toMatchObject({
      stderr: expect.stringContaining('KAFKA_PARTITIONS: expected an integer from 1 to 1024, received "many"'),
    });
  });

  it('the mock broker can be taken down and brought back, for outage tests', async () => {
    const broker = await MockBroker.start({ stateDir, brokers: 1, partitions: 1, topics: ['outage'], name: 'outage' });
    const kafka = new Kafka({
      clientId: 'outage-test',
      brokers: [...broker.bootstrap],
      logLevel: logLevel.NOTHING,
      retry: { retries: 1, initialRetryTime: 100 },
    });
    const producer = kafka.producer();
    try {
      await producer.connect();
      await producer.send({ topic: 'outage', acks: -1, messages: [{ value: 'before' }] });
      await broker.down();
      await expect(producer.send({ topic: 'outage', acks: -1, timeout: 1_000, messages: [{ value: 'during' }] })).rejects.toThrow();
      await broker.up();
      const deadline = Date.now() + 15_000;
      let delivered = false;
      while (!delivered && Date.now() < deadline) {
        delivered = await producer.send({ topic: 'outage', acks: -1, messages: [{ value: 'after' }] }).then(
          () => true,
          () => false,
        );
      }
      expect(delivered).toBe(true);
    } finally {
      await producer.disconnect().catch(() => {});
      await broker.stop();
    }
  });
});
