import type { FastifyInstance } from 'fastify';
import { WarehouseAnalysisRunner } from '../lib/analytics/runner.ts';
import type { Clock } from '../lib/clock.ts';
import type { ConfigOf } from '../lib/config/load.ts';
import { listeningUrl } from '../lib/http/listening-url.ts';
import { createKafka } from '../lib/kafka/client.ts';
import { loadTopicSetup } from '../lib/kafka/codecs.ts';
import { TopicProducer } from '../lib/kafka/topic-producer.ts';
import { ServiceLifecycle } from '../lib/lifecycle.ts';
import type { Logger } from '../lib/logger.ts';
import { applyMigrations } from '../lib/warehouse/migrations.ts';
import { BufferedHistory } from './buffered-history.ts';
import type { historyConfigSchema } from './config.ts';
import { HistoryThread, type HistoryThreadSettings } from './history-thread.ts';
import { HistoryMetrics } from './metrics.ts';
import { HISTORY_MIGRATIONS } from './migrations.ts';
import { buildHistoryServer } from './server.ts';
import { HistorySinkLoop } from './sink.ts';

export type HistoryConfig = ConfigOf<(typeof historyConfigSchema)['vars']>;

export interface HistoryService {
  readonly lifecycle: ServiceLifecycle;
  readonly metrics: HistoryMetrics;
  url(): string;
}

/** What the history thread opens ClickHouse and decodes records with: no secret but ClickHouse's password. */
function historyThreadSettings(config: HistoryConfig): HistoryThreadSettings {
  const { CLICKHOUSE_URL, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD, CLICKHOUSE_DATABASE, CLICKHOUSE_PATH, SCHEMA_REGISTRY_URL } = config;
  const { KAFKA_TOPIC_EVENTS, KAFKA_TOPIC_SEGMENT_CHANGES, KAFKA_TOPIC_TRIGGERS, KAFKA_TOPIC_LIFECYCLE, KAFKA_TOPIC_DLQ } = config;
  const { KAFKA_TOPIC_MEMBER_EVENTS, KAFKA_TOPIC_IDENTITY_CHANGES } = config;
  return {
    CLICKHOUSE_URL,
    CLICKHOUSE_USER,
    CLICKHOUSE_PASSWORD,
    CLICKHOUSE_DATABASE,
    CLICKHOUSE_PATH,
    SCHEMA_REGISTRY_URL,
    KAFKA_TOPIC_EVENTS,
    KAFKA_TOPIC_SEGMENT_CHANGES,
    KAFKA_TOPIC_TRIGGERS,
    KAFKA_TOPIC_LIFECYCLE,
    KAFKA_TOPIC_DLQ,
    KAFKA_TOPIC_MEMBER_EVENTS,
    KAFKA_TOPIC_IDENTITY_CHANGES,
  };
}

export async function createHistoryService(config: HistoryConfig, clock: Clock, logger: Logger): Promise<HistoryService> {
  const { topics, codecs } = await loadTopicSetup(config);
  const kafkaSettings = { brokers: config.KAFKA_BROKERS, clientId: `${config.KAFKA_CLIENT_ID}-history` };
  const kafka = createKafka(kafkaSettings, logger);
  const consumer = kafka.consumer({
    groupId: config.HISTORY_GROUP_ID,
    sessionTimeout: config.HISTORY_SESSION_TIMEOUT_MS,
    heartbeatInterval: Math.max(1_000, Math.floor(config.HISTORY_SESSION_TIMEOUT_MS / 10)),
    maxWaitTimeInMs: 100,
    maxBytesPerPartition: 4 * 1024 * 1024,
  });
  const producer = new TopicProducer(kafkaSettings, codecs);
  const metrics = new HistoryMetrics();
  let thread: HistoryThread | undefined;
  let sink: HistorySinkLoop | undefined;
  let server: FastifyInstance | undefined;

  const lifecycle = new ServiceLifecycle({ logger, stopTimeoutMs: 15_000 });
  lifecycle.add({
    name: 'clickhouse',
    start: async () => {
      thread = await HistoryThread.start(historyThreadSettings(config), (error) =>
        logger.error({ err: error.message }, 'the history thread stopped: nothing is written and no offset committed; restart the service'),
      );
      const applied = await applyMigrations(thread, HISTORY_MIGRATIONS);
      if (applied.length > 0) logger.info({ applied }, 'history tables migrated');
    },
    stop: async () => thread?.close(),
  });
  lifecycle.add({ name: 'kafka-producer', start: () => producer.connect(), stop: () => producer.disconnect() });
  lifecycle.add({
    name: 'kafka-consumer',
    start: async () => {
      const history = new BufferedHistory(thread as HistoryThread, { maxRows: config.HISTORY_MAX_ROWS, maxAgeMs: config.HISTORY_MAX_AGE_MS });
      sink = new HistorySinkLoop({
        consumer,
        topics,
        codecs,
        history,
        deadLetters: async (records) => {
          await producer.send(
            topics.deadLetters,
            records.map((d) => ({ key: `${d.sourceTopic}/${d.sourcePartition}`, value: d })),
          );
        },
        metrics,
        clock,
        logger,
        options: { newGroupStartsAt: config.HISTORY_NEW_GROUP_STARTS_AT, flushCheckMs: Math.max(10, Math.floor(config.HISTORY_MAX_AGE_MS / 4)) },
      });
      await sink.start();
    },
    // Stop fetching, write and commit what was read, then leave the group.
    stop: async () => {
      await sink?.drain();
      await consumer.disconnect();
    },
  });
  lifecycle.add({
    name: 'http',
    start: async () => {
      server = await buildHistoryServer({
        operationsTokens: config.OPERATIONS_TOKENS,
        reads: {
          runner: new WarehouseAnalysisRunner(thread as HistoryThread, {
            timeoutMs: config.HISTORY_READ_TIMEOUT_MS,
            maxMemoryBytes: config.HISTORY_READ_MAX_MEMORY_MB * 1_048_576,
            configuredBy: { timeout: 'HISTORY_READ_TIMEOUT_MS', memory: 'HISTORY_READ_MAX_MEMORY_MB' },
          }),
          tokens: config.HISTORY_READ_TOKENS,
          timeoutMs: config.HISTORY_READ_TIMEOUT_MS,
        },
        metrics,
        logger,
        ready: async () => sink?.joined === true && thread !== undefined && thread.failure === undefined,
      });
      const address = await server.listen({ host: config.HISTORY_HOST, port: config.HISTORY_PORT });
      logger.info({ address, group: config.HISTORY_GROUP_ID, warehouse: thread?.kind, database: thread?.database }, 'history service running');
    },
    stop: async () => server?.close(),
  });
  return { lifecycle, metrics, url: () => listeningUrl(server as FastifyInstance) };
}
