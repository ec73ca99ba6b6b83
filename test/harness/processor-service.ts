import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DestinationStream } from 'pino';
import { historyConfigSchema } from '../../history/config.ts';
import { createHistoryService, type HistoryService } from '../../history/service.ts';
import { systemClock } from '../../lib/clock.ts';
import { loadConfig } from '../../lib/config/load.ts';
import { createTopicCodecs, type TopicCodecs } from '../../lib/kafka/codecs.ts';
import { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import { createLogger } from '../../lib/logger.ts';
import { processorConfigSchema } from '../../processors/config.ts';
import { createProcessorService, type ProcessorService } from '../../processors/service.ts';
import { loadSchemaCatalog } from '../../schemas/catalog.ts';
import { FileSchemaRegistry } from '../../schemas/schema-registry.ts';
import { buildTopics, type Topics } from '../../schemas/topics.ts';
import { PROCESSOR_TEST_TOPICS } from './services.ts';

/** Ingest's and the processors' secret in tests: one, as in production (ingest hashes, the processors match by the hashes). */
export const TEST_HMAC_SECRET = 'integration-test-secret';

export const PROCESSOR_TOKEN = 'test-token';

/** A member as the processor's lookup shows it by one of its identities (without its latest events), or undefined while there is none. */
export async function lookupMember<M = { memberId: string }>(url: string, kind: string, value: string): Promise<M | undefined> {
  const response = await fetch(`${url}/members/lookup?kind=${kind}&value=${encodeURIComponent(value)}&events=0`, {
    headers: { authorization: `Bearer ${PROCESSOR_TOKEN}` },
  });
  return response.status === 200 ? ((await response.json()) as { member: M }).member : undefined;
}

/** The processor test topics with their codecs, and a connected producer for them (disconnect it when done). */
export async function processorTestTopics(brokers: readonly string[]): Promise<{ topics: Topics; codecs: TopicCodecs; producer: TopicProducer }> {
  const catalog = await loadSchemaCatalog();
  const topics = buildTopics(PROCESSOR_TEST_TOPICS, catalog);
  const codecs = await createTopicCodecs(new FileSchemaRegistry(catalog), topics);
  const producer = new TopicProducer({ brokers, clientId: 'processor-test-producer' }, codecs);
  await producer.connect();
  return { topics, codecs, producer };
}

/** The real processor service, built from configuration as main.ts builds it, on its own topics and key prefix. `log`: where its log goes. */
export async function startProcessor(
  brokers: readonly string[],
  redisUrl: string,
  overrides: Record<string, string> = {},
  log?: DestinationStream,
): Promise<{ service: ProcessorService; url: string }> {
  const env = {
    KAFKA_BROKERS: brokers.join(','),
    REDIS_URL: redisUrl,
    KAFKA_TOPIC_EVENTS: PROCESSOR_TEST_TOPICS.events,
    KAFKA_TOPIC_SEGMENT_CHANGES: PROCESSOR_TEST_TOPICS.segmentChanges,
    KAFKA_TOPIC_TRIGGERS: PROCESSOR_TEST_TOPICS.triggers,
    KAFKA_TOPIC_LIFECYCLE: PROCESSOR_TEST_TOPICS.lifecycle,
    KAFKA_TOPIC_DLQ: PROCESSOR_TEST_TOPICS.deadLetters,
    KAFKA_TOPIC_MEMBER_EVENTS: PROCESSOR_TEST_TOPICS.memberEvents,
    KAFKA_TOPIC_IDENTITY_CHANGES: PROCESSOR_TEST_TOPICS.identityChanges,
    PROCESSOR_HOST: '127.0.0.1',
    PROCESSOR_PORT: '0',
    PROCESSOR_API_TOKENS: PROCESSOR_TOKEN,
    SEGSTREAM_HMAC_SECRET: TEST_HMAC_SECRET,
    PROCESSOR_TIMER_INTERVAL_MS: '100',
    LOG_LEVEL: 'fatal',
    ...overrides,
  };
  const config = loadConfig(processorConfigSchema, env);
  const service = await createProcessorService(config, systemClock, createLogger({ service: 'processor-test', level: config.LOG_LEVEL, destination: log }));
  await service.lifecycle.start();
  return { service, url: service.url() };
}

export const HISTORY_TOKEN = 'history-test-token';

/**
 * The real history service, built from configuration as main.ts builds it, on the
 * processor test topics, with embedded ClickHouse in a directory of its own. Its group
 * reads only what is published from now on unless told otherwise.
 */
export async function startHistory(
  brokers: readonly string[],
  overrides: Record<string, string> = {},
  log?: DestinationStream,
): Promise<{ service: HistoryService; url: string }> {
  const env = {
    KAFKA_BROKERS: brokers.join(','),
    KAFKA_TOPIC_EVENTS: PROCESSOR_TEST_TOPICS.events,
    KAFKA_TOPIC_SEGMENT_CHANGES: PROCESSOR_TEST_TOPICS.segmentChanges,
    KAFKA_TOPIC_TRIGGERS: PROCESSOR_TEST_TOPICS.triggers,
    KAFKA_TOPIC_LIFECYCLE: PROCESSOR_TEST_TOPICS.lifecycle,
    KAFKA_TOPIC_DLQ: PROCESSOR_TEST_TOPICS.deadLetters,
    KAFKA_TOPIC_MEMBER_EVENTS: PROCESSOR_TEST_TOPICS.memberEvents,
    KAFKA_TOPIC_IDENTITY_CHANGES: PROCESSOR_TEST_TOPICS.identityChanges,
    CLICKHOUSE_PATH: mkdtempSync(join(tmpdir(), 'segstream-history-chdb-')),
    HISTORY_GROUP_ID: `history-test-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
    HISTORY_NEW_GROUP_STARTS_AT: 'latest',
    HISTORY_HOST: '127.0.0.1',
    HISTORY_PORT: '0',
    HISTORY_READ_TOKENS: HISTORY_TOKEN,
    HISTORY_MAX_AGE_MS: '100',
    LOG_LEVEL: 'fatal',
    ...overrides,
  };
  const config = loadConfig(historyConfigSchema, env);
  const service = await createHistoryService(config, systemClock, createLogger({ service: 'history-test', level: config.LOG_LEVEL, destination: log }));
  await service.lifecycle.start();
  return { service, url: service.url() };
}
