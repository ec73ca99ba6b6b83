import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { historyConfigSchema } from '../../history/config.ts';
import type { ConfigOf } from '../../lib/config/load.ts';
import { loadSchemaCatalog, type SchemaCatalog } from '../../schemas/catalog.ts';
import { ConfluentSchemaRegistry, registerCatalog } from '../../schemas/schema-registry.ts';
import { allTopics, buildTopics, topicNamesFromConfig } from '../../schemas/topics.ts';
import type { stackConfigSchema } from './config.ts';
import { kafkaClusterReady, LocalKafka } from './local-kafka.ts';
import { LocalSchemaRegistry, schemaRegistryResponds } from './local-schema-registry.ts';
import { isAlive, terminate } from './processes.ts';
import { redisResponds, startLocalRedis } from './redis-server.ts';
import { ensureTopics } from './topics.ts';

export type StackConfig = ConfigOf<(typeof stackConfigSchema)['vars']>;

/** What `stack up` started or found, persisted so that `down` and a second `up` know it. */
export interface StackState {
  readonly redis: { readonly url: string; readonly pid: number | null };
  readonly kafka: {
    readonly brokers: readonly string[];
    /** The JVMs of the local cluster, one per node; empty when the Kafka is the user's. */
    readonly pids: readonly number[];
    /** Apache Kafka version of the local cluster; null for the user's. */
    readonly version: string | null;
    readonly partitions: number;
    /** Replicas per partition of the topics the stack created; -1: the user's cluster default. */
    readonly replicationFactor: number;
    readonly topics: readonly string[];
  };
  readonly clickhouse: { readonly url: string | null; readonly path: string | null };
  /** The Schema Registry the services use; null: the files in schemas/ (no server). */
  readonly schemaRegistry: {
    readonly url: string;
    /** The local Apicurio Registry's JVM; null when the registry is the user's. */
    readonly pid: number | null;
    readonly version: string | null;
    /** Schemas whose registry id differs from schemas/registry.json's, as "file id->registry id". */
    readonly otherIds: readonly string[];
  } | null;
  /** The variables services and tests read to reach the stack. */
  readonly env: Readonly<Record<string, string>>;
}

export const STATE_FILE = 'stack.json';
export const ENV_FILE = 'stack.env';
/** The local Kafka's data, properties and logs, under the state directory. */
const KAFKA_DIR = 'kafka';
/** The local Apicurio Registry's database and log, under the state directory. */
const SCHEMA_REGISTRY_DIR = 'schema-registry';

/** What `up` did, besides the state: start-up times worth printing. */
export interface StackUpResult {
  readonly state: StackState;
  readonly notes: readonly string[];
}

function readState(stateDir: string): StackState | undefined {
  const file = join(stateDir, STATE_FILE);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StackState;
  } catch {
    return undefined;
  }
}

async function upRedis(config: StackConfig, stateDir: string, previous: StackState | undefined): Promise<StackState['redis']> {
  if (config.REDIS_URL) return { url: config.REDIS_URL, pid: null };
  const old = previous?.redis;
  if (old?.pid && isAlive(old.pid) && (await redisResponds(old.url))) return old;
  return startLocalRedis(stateDir);
}

function reusable(old: StackState['kafka'] | undefined, config: StackConfig, topics: readonly string[]): old is StackState['kafka'] {
  return (
    old !== undefined &&
    Array.isArray(old.pids) &&
    old.pids.length === config.KAFKA_LOCAL_BROKERS &&
    old.partitions === config.KAFKA_PARTITIONS &&
    topics.every((t) => old.topics.includes(t)) &&
    old.pids.every((pid) => isAlive(pid))
  );
}

async function upKafka(
  config: StackConfig,
  stateDir: string,
  topics: readonly string[],
  previous: StackState | undefined,
  notes: string[],
): Promise<StackState['kafka']> {
  const partitions = config.KAFKA_PARTITIONS;
  const dir = join(stateDir, KAFKA_DIR);
  if (config.KAFKA_BROKERS) {
    // The user's Kafka from now on: a local one started before goes.
    await LocalKafka.stopAt(dir);
    await ensureTopics(config.KAFKA_BROKERS, topics, { partitions, replicationFactor: -1 });
    return { brokers: config.KAFKA_BROKERS, pids: [], version: null, partitions, replicationFactor: -1, topics };
  }
  const old = previous?.kafka;
  if (reusable(old, config, topics) && (await kafkaClusterReady(old.brokers, old.pids.length))) return old;
  // Anything left in the directory (another layout, a node that died) is killed by start().
  const kafka = await LocalKafka.start({ dir, brokers: config.KAFKA_LOCAL_BROKERS });
  const created = Date.now();
  await ensureTopics(kafka.bootstrap, topics, { partitions, replicationFactor: kafka.replicationFactor });
  notes.push(
    `kafka: Apache Kafka ${kafka.version} started in ${kafka.startedInMs} ms (storage formatted, ${kafka.pids.length} JVM${kafka.pids.length > 1 ? 's' : ''} serving clients); topics created in ${Date.now() - created} ms`,
  );
  return { brokers: kafka.bootstrap, pids: kafka.pids, version: kafka.version, partitions, replicationFactor: kafka.replicationFactor, topics };
}

/**
 * The user's registry (SCHEMA_REGISTRY_URL), the local Apicurio Registry (SCHEMA_REGISTRY=local,
 * reused while it answers) or none; a registry gets every schema version of the repository.
 */
async function upSchemaRegistry(
  config: StackConfig,
  stateDir: string,
  catalog: SchemaCatalog,
  previous: StackState | undefined,
  notes: string[],
): Promise<StackState['schemaRegistry']> {
  const dir = join(stateDir, SCHEMA_REGISTRY_DIR);
  let url: string;
  let pid: number | null = null;
  let version: string | null = null;
  if (config.SCHEMA_REGISTRY_URL) {
    await LocalSchemaRegistry.stopAt(dir);
    url = config.SCHEMA_REGISTRY_URL;
  } else if (config.SCHEMA_REGISTRY === 'local') {
    const old = previous?.schemaRegistry;
    if (old?.pid && isAlive(old.pid) && (await schemaRegistryResponds(old.url))) {
      ({ url, pid, version } = old);
    } else {
      const registry = await LocalSchemaRegistry.start({ dir });
      notes.push(`schema registry: Apicurio Registry ${registry.version} started in ${registry.startedInMs} ms`);
      ({ url, pid, version } = registry);
    }
  } else {
    await LocalSchemaRegistry.stopAt(dir);
    return null;
  }
  const ids = await registerCatalog(new ConfluentSchemaRegistry(url), catalog);
  const otherIds = [...ids].filter(([file, registry]) => file !== registry).map(([file, registry]) => `${file}->${registry}`);
  if (otherIds.length > 0)
    notes.push(
      `schema registry: ids differ from schemas/registry.json (${otherIds.join(', ')}); records written with one cannot be read with the other, so keep each topic on one`,
    );
  return { url, pid, version, otherIds };
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
 * ClickHouse belongs to the history service: the query service (with embedded ClickHouse)
 * and the processors' member lookup read through it, at its default port, with a token
 * kept across "up"s.
 */
function historyReadEnv(previous: StackState | undefined, embedded: boolean): Record<string, string> {
  const token = previous?.env.HISTORY_READ_TOKENS ?? `local-${randomBytes(12).toString('hex')}`;
  const url = `http://127.0.0.1:${historyConfigSchema.vars.HISTORY_PORT.defaultValue}`;
  return {
    HISTORY_READ_TOKENS: token,
    PROCESSOR_HISTORY_URL: url,
    PROCESSOR_HISTORY_TOKEN: token,
    ...(embedded ? { QUERY_WAREHOUSE_URL: url, QUERY_WAREHOUSE_TOKEN: token } : {}),
  };
}

/** One secret for ingest's and the processors' keyed hashes of personal data, kept across "up"s (a new one would orphan every stored identity). */
function hmacEnv(previous: StackState | undefined): Record<string, string> {
  return { SEGSTREAM_HMAC_SECRET: previous?.env.SEGSTREAM_HMAC_SECRET ?? randomBytes(24).toString('base64url') };
}

/** Brings every service up (or reuses what is already running) and records how to reach it. */
export async function stackUp(config: StackConfig): Promise<StackUpResult> {
  const notes: string[] = [];
  const stateDir = resolve(config.SEGSTREAM_STATE_DIR);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const previous = readState(stateDir);
  const catalog = await loadSchemaCatalog();
  const topicNames = allTopics(buildTopics(topicNamesFromConfig(config), catalog)).map((t) => t.name);

  const redis = await upRedis(config, stateDir, previous);
  const kafka = await upKafka(config, stateDir, topicNames, previous, notes);
  const schemaRegistry = await upSchemaRegistry(config, stateDir, catalog, previous, notes);
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
    KAFKA_TOPIC_MEMBER_EVENTS: config.KAFKA_TOPIC_MEMBER_EVENTS,
    KAFKA_TOPIC_IDENTITY_CHANGES: config.KAFKA_TOPIC_IDENTITY_CHANGES,
    CLICKHOUSE_DATABASE: config.CLICKHOUSE_DATABASE,
    ...(schemaRegistry ? { SCHEMA_REGISTRY_URL: schemaRegistry.url } : {}),
    ...(clickhouse.url ? { CLICKHOUSE_URL: clickhouse.url, CLICKHOUSE_USER: config.CLICKHOUSE_USER } : { CLICKHOUSE_PATH: clickhouse.path as string }),
    ...historyReadEnv(previous, clickhouse.url === null),
    ...hmacEnv(previous),
  };
  const state: StackState = { redis, kafka, clickhouse, schemaRegistry, env };
  writePrivate(join(stateDir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
  writePrivate(join(stateDir, ENV_FILE), envFileText(env));
  return { state, notes };
}

/** Stops what `up` started (never the user's own services) and forgets it. */
export async function stackDown(config: StackConfig, options: { purge: boolean }): Promise<string[]> {
  const stateDir = resolve(config.SEGSTREAM_STATE_DIR);
  const state = readState(stateDir);
  const stopped: string[] = [];
  // Every JVM the local Kafka left in its directory, whatever the state file says; its data goes too.
  const kafkaPids = await LocalKafka.stopAt(join(stateDir, KAFKA_DIR));
  if (kafkaPids.length > 0) stopped.push(`kafka (pid${kafkaPids.length > 1 ? 's' : ''} ${kafkaPids.join(', ')})`);
  const registryPids = await LocalSchemaRegistry.stopAt(join(stateDir, SCHEMA_REGISTRY_DIR));
  if (registryPids.length > 0) stopped.push(`schema registry (pid ${registryPids.join(', ')})`);
  const redisPid = state?.redis.pid;
  if (redisPid && isAlive(redisPid)) {
    await terminate(redisPid);
    stopped.push(`redis (pid ${redisPid})`);
  }
  rmSync(join(stateDir, STATE_FILE), { force: true });
  rmSync(join(stateDir, ENV_FILE), { force: true });
  if (options.purge && state?.clickhouse.path) rmSync(state.clickhouse.path, { recursive: true, force: true });
  return stopped;
}

export function stackStatus(config: StackConfig): StackState | undefined {
  return readState(resolve(config.SEGSTREAM_STATE_DIR));
}
