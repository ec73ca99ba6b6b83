import { resolve } from 'node:path';
import { DEFAULT_TOPIC_NAMES } from '../../schemas/topics.ts';
import { LocalKafka } from '../../scripts/stack/local-kafka.ts';
import { terminate } from '../../scripts/stack/processes.ts';
import { startLocalRedis } from '../../scripts/stack/redis-server.ts';
import { ensureTopics } from '../../scripts/stack/topics.ts';

/** How integration tests reach the real services. Passed to test files with vitest's provide/inject. */
export interface ServiceEndpoints {
  readonly origin: 'environment' | 'testcontainers' | 'local';
  readonly redisUrl: string;
  readonly kafkaBrokers: readonly string[];
  /** A ClickHouse server, when one is available; otherwise tests use embedded chdb. */
  readonly clickhouse: { readonly url: string; readonly user: string; readonly password: string } | null;
  readonly partitions: number;
}

export interface AcquiredServices {
  readonly endpoints: ServiceEndpoints;
  release(): Promise<void>;
}

export const TEST_PARTITIONS = 4;
/** Topics every test broker has, besides the product's own. */
export const PROCESSOR_TEST_TOPICS = {
  events: 'segstream.test.processor-events',
  segmentChanges: 'segstream.test.processor-segment-changes',
  triggers: 'segstream.test.processor-triggers',
  lifecycle: 'segstream.test.processor-lifecycle',
  deadLetters: 'segstream.test.processor-dlq',
  memberEvents: 'segstream.test.processor-member-events',
  identityChanges: 'segstream.test.processor-identity-changes',
} as const;
export const TEST_TOPICS: readonly string[] = [
  ...Object.values(DEFAULT_TOPIC_NAMES),
  ...Object.values(PROCESSOR_TEST_TOPICS),
  'segstream.test.roundtrip',
  'segstream.test.scratch',
  'segstream.test.batches-a',
  'segstream.test.batches-b',
];

async function fromEnvironment(env: NodeJS.ProcessEnv): Promise<AcquiredServices | undefined> {
  if (!env.TEST_REDIS_URL || !env.TEST_KAFKA_BROKERS) return undefined;
  const kafkaBrokers = env.TEST_KAFKA_BROKERS.split(',');
  await ensureTopics(kafkaBrokers, TEST_TOPICS, { partitions: TEST_PARTITIONS, replicationFactor: -1 }).catch((error: unknown) => {
    throw new Error(
      `creating the test topics on TEST_KAFKA_BROKERS=${env.TEST_KAFKA_BROKERS} failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  });
  const clickhouse = env.TEST_CLICKHOUSE_URL
    ? { url: env.TEST_CLICKHOUSE_URL, user: env.TEST_CLICKHOUSE_USER ?? 'default', password: env.TEST_CLICKHOUSE_PASSWORD ?? '' }
    : null;
  return {
    endpoints: { origin: 'environment', redisUrl: env.TEST_REDIS_URL, kafkaBrokers, clickhouse, partitions: TEST_PARTITIONS },
    release: async () => {},
  };
}

async function fromTestcontainers(): Promise<AcquiredServices | undefined> {
  const { getContainerRuntimeClient } = await import('testcontainers');
  try {
    await getContainerRuntimeClient();
  } catch {
    return undefined; // no Docker engine here: use the local stack
  }
  const [{ RedisContainer }, { KafkaContainer }, { ClickHouseContainer }] = await Promise.all([
    import('@testcontainers/redis'),
    import('@testcontainers/kafka'),
    import('@testcontainers/clickhouse'),
  ]);
  const [redis, kafka, clickhouse] = await Promise.all([
    new RedisContainer('redis:7.4').start(),
    // Confluent Platform 8.1 ships Apache Kafka 4.1, the version the local stack runs (@testcontainers/kafka runs Confluent images only).
    new KafkaContainer('confluentinc/cp-kafka:8.1.0').withKraft().start(),
    new ClickHouseContainer('clickhouse/clickhouse-server:25.8').start(),
  ]);
  const kafkaBrokers = [`${kafka.getHost()}:${kafka.getMappedPort(9093)}`];
  await ensureTopics(kafkaBrokers, TEST_TOPICS, { partitions: TEST_PARTITIONS, replicationFactor: 1 });
  return {
    endpoints: {
      origin: 'testcontainers',
      redisUrl: redis.getConnectionUrl(),
      kafkaBrokers,
      clickhouse: { url: clickhouse.getHttpUrl(), user: clickhouse.getUsername(), password: clickhouse.getPassword() },
      partitions: TEST_PARTITIONS,
    },
    release: async () => {
      await Promise.all([redis.stop(), kafka.stop(), clickhouse.stop()]);
    },
  };
}

/** Redis and a single-node Apache Kafka of our own, under .segstream/test, stopped when the run ends. */
async function fromLocalStack(): Promise<AcquiredServices> {
  const stateDir = resolve('.segstream/test');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(stateDir, { recursive: true });
  const redis = await startLocalRedis(stateDir);
  let kafka: LocalKafka | undefined;
  try {
    kafka = await LocalKafka.start({ dir: resolve(stateDir, 'kafka') });
    console.log(`[integration] Apache Kafka ${kafka.version} started in ${kafka.startedInMs} ms`);
    await ensureTopics(kafka.bootstrap, TEST_TOPICS, { partitions: TEST_PARTITIONS, replicationFactor: kafka.replicationFactor });
    const started = kafka;
    return {
      endpoints: { origin: 'local', redisUrl: redis.url, kafkaBrokers: started.bootstrap, clickhouse: null, partitions: TEST_PARTITIONS },
      release: async () => {
        await Promise.all([started.stop(), terminate(redis.pid)]);
      },
    };
  } catch (error) {
    await Promise.all([kafka?.stop(), terminate(redis.pid)]);
    throw error;
  }
}

/**
 * Services for integration tests: TEST_REDIS_URL/TEST_KAFKA_BROKERS when set, else
 * testcontainers when a Docker engine answers, else the local stack. If none can be had
 * this throws, and every integration test fails saying why: they never skip.
 */
export async function acquireServices(env: NodeJS.ProcessEnv): Promise<AcquiredServices> {
  try {
    return (await fromEnvironment(env)) ?? (await fromTestcontainers()) ?? (await fromLocalStack());
  } catch (error) {
    throw new Error(`integration tests need Redis and Kafka, and they could not be had: ${error instanceof Error ? error.message : String(error)}`);
  }
}
