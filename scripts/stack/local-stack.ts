import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join, resolve } from 'node:path';
import type { ConfigOf } from '../../lib/config/load.ts';
import { processorConfigSchema } from '../../processors/config.ts';
import { loadSchemaCatalog } from '../../schemas/catalog.ts';
import { allTopics, buildTopics, topicNamesFromConfig } from '../../schemas/topics.ts';
import type { stackConfigSchema } from './config.ts';
import { MockBroker } from './mock-broker.ts';
import { isAlive, terminate } from './processes.ts';
import { redisResponds, startLocalRedis } from './redis-server.ts';
import { ensureTopics } from './topics.ts';

export type StackConfig = ConfigOf<(typeof stackConfigSchema)['vars']>;

/** What `stack up` started or found, persisted so that `down` and a second `up` know it. */
export interface StackState {
  readonly redis: { readonly url: string; readonly pid: number | null };
  readonly kafka: { readonly brokers: readonly string[]; readonly pid: number | null; readonly partitions: number; readonly topics: readonly string[] };
  readonly clickhouse: { readonly url: string | null; readonly path: string | null };
  /** The variables services and tests read to reach the stack. */
  readonly env: Readonly<Record<string, string>>;
}

export const STATE_FILE = 'stack.json';
export const ENV_FILE = 'stack.env';

function readState(stateDir: string): StackState | undefined {
  const file = join(stateDir, STATE_FILE);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StackState;
  } catch {
    return undefined;
  }
}

function tcpResponds(hostPort: string): Promise<boolean> {
  const [host, port] = hostPort.split(':') as [string, string];
  return new Promise((resolvePromise) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolvePromise(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(Number(port), host, () => done(true));
  });
}

async function upRedis(config: StackConfig, stateDir: string, previous: StackState | undefined): Promise<StackState['redis']> {
  if (config.REDIS_URL) return { url: config.REDIS_URL, pid: null };
  const old = previous?.redis;
  if (old?.pid && isAlive(old.pid) && (await redisResponds(old.url))) return old;
  return startLocalRedis(stateDir);
}

async function upKafka(config: StackConfig, stateDir: string, topics: readonly string[], previous: StackState | undefined): Promise<StackState['kafka']> {
  const partitions = config.KAFKA_PARTITIONS;
  if (config.KAFKA_BROKERS) {
    await ensureTopics(config.KAFKA_BROKERS, topics, partitions);
    return { brokers: config.KAFKA_BROKERS, pid: null, partitions, topics };
  }
  const old = previous?.kafka;
  const sameLayout = old && old.partitions === partitions && topics.every((t) => old.topics.includes(t));
  if (old?.pid && isAlive(old.pid)) {
    if (sameLayout && old.brokers[0] && (await tcpResponds(old.brokers[0]))) return old;
    await terminate(old.pid);
  }
  const broker = await MockBroker.start({ stateDir, brokers: config.KAFKA_MOCK_BROKERS, partitions, topics });
  return { brokers: broker.bootstrap, pid: broker.pid, partitions, topics };
}

/** Both state files hold tokens: readable by their owner only, however they were created before. */
function writePrivate(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
}

function envFileText(env: Readonly<Record<string, string>>): string {
  const lines = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return `# Written by "./segstream stack up"; services and tests read it. Variables set in the environment win.\n${lines.join('\n')}\n`;
}

/**
 * Embedded ClickHouse belongs to the processors; the query service reads through them
 * (at the processors' default port), with a token kept across "up"s.
 */
function embeddedWarehouseEnv(path: string, previous: StackState | undefined): Record<string, string> {
  const token = previous?.env.QUERY_WAREHOUSE_TOKEN ?? `local-${randomBytes(12).toString('hex')}`;
  return {
    CLICKHOUSE_PATH: path,
    PROCESSOR_WAREHOUSE_TOKENS: token,
    QUERY_WAREHOUSE_URL: `http://127.0.0.1:${processorConfigSchema.vars.PROCESSOR_PORT.defaultValue}`,
    QUERY_WAREHOUSE_TOKEN: token,
  };
}

/** Brings every service up (or reuses what is already running) and records how to reach it. */
export async function stackUp(config: StackConfig): Promise<StackState> {
  const stateDir = resolve(config.SEGSTREAM_STATE_DIR);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const previous = readState(stateDir);
  const topicNames = allTopics(buildTopics(topicNamesFromConfig(config), await loadSchemaCatalog())).map((t) => t.name);

  const redis = await upRedis(config, stateDir, previous);
  const kafka = await upKafka(config, stateDir, topicNames, previous);
  const clickhouse = config.CLICKHOUSE_URL ? { url: config.CLICKHOUSE_URL, path: null } : { url: null, path: resolve(config.CLICKHOUSE_PATH) };

  const env: Record<string, string> = {
    REDIS_URL: redis.url,
    KAFKA_BROKERS: kafka.brokers.join(','),
    KAFKA_PARTITIONS: String(kafka.partitions),
    KAFKA_TOPIC_EVENTS: config.KAFKA_TOPIC_EVENTS,
    KAFKA_TOPIC_SEGMENT_CHANGES: config.KAFKA_TOPIC_SEGMENT_CHANGES,
    KAFKA_TOPIC_TRIGGERS: config.KAFKA_TOPIC_TRIGGERS,
    KAFKA_TOPIC_LIFECYCLE: config.KAFKA_TOPIC_LIFECYCLE,
    KAFKA_TOPIC_DLQ: config.KAFKA_TOPIC_DLQ,
    CLICKHOUSE_DATABASE: config.CLICKHOUSE_DATABASE,
    ...(clickhouse.url
      ? { CLICKHOUSE_URL: clickhouse.url, CLICKHOUSE_USER: config.CLICKHOUSE_USER }
      : embeddedWarehouseEnv(clickhouse.path as string, previous)),
  };
  const state: StackState = { redis, kafka, clickhouse, env };
  writePrivate(join(stateDir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
  writePrivate(join(stateDir, ENV_FILE), envFileText(env));
  return state;
}

/** Stops what `up` started (never the user's own services) and forgets it. */
export async function stackDown(config: StackConfig, options: { purge: boolean }): Promise<string[]> {
  const stateDir = resolve(config.SEGSTREAM_STATE_DIR);
  const state = readState(stateDir);
  const stopped: string[] = [];
  for (const [name, pid] of [
    ['kafka', state?.kafka.pid],
    ['redis', state?.redis.pid],
  ] as const) {
    if (pid && isAlive(pid)) {
      await terminate(pid);
      stopped.push(`${name} (pid ${pid})`);
    }
  }
  rmSync(join(stateDir, STATE_FILE), { force: true });
  rmSync(join(stateDir, ENV_FILE), { force: true });
  if (options.purge && state?.clickhouse.path) rmSync(state.clickhouse.path, { recursive: true, force: true });
  return stopped;
}

export function stackStatus(config: StackConfig): StackState | undefined {
  return readState(resolve(config.SEGSTREAM_STATE_DIR));
}
