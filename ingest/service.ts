import { keyedHash } from '../domain/privacy/keyed-hash.ts';
import { DEFAULT_PERSONAL_FIELDS, personalDataProtector } from '../domain/privacy/personal-data.ts';
import type { Clock } from '../lib/clock.ts';
import type { ConfigOf } from '../lib/config/load.ts';
import { listeningUrl } from '../lib/http/listening-url.ts';
import { createKafka } from '../lib/kafka/client.ts';
import { loadTopicSetup } from '../lib/kafka/codecs.ts';
import { brokerReachability } from '../lib/kafka/reachability.ts';
import { TopicProducer } from '../lib/kafka/topic-producer.ts';
import { ServiceLifecycle } from '../lib/lifecycle.ts';
import type { Logger } from '../lib/logger.ts';
import type { ingestConfigSchema } from './config.ts';
import { IngestMetrics } from './metrics.ts';
import { protectingPublisher } from './protecting-publisher.ts';
import { BatchingPublisher } from './publisher.ts';
import { SensorsProjects } from './sensors/projects.ts';
import { buildIngestServer } from './server.ts';
import { WriteKeyOrigins } from './write-key-origins.ts';

export type IngestConfig = ConfigOf<(typeof ingestConfigSchema)['vars']>;

export interface IngestService {
  readonly lifecycle: ServiceLifecycle;
  readonly metrics: IngestMetrics;
  /** The address the server listens on, once started. */
  url(): string;
}

/** Builds the ingest service from its configuration: adapters, publisher, HTTP server, in start order. */
export async function createIngestService(config: IngestConfig, clock: Clock, logger: Logger): Promise<IngestService> {
  const { topics, codecs } = await loadTopicSetup(config);
  const kafkaSettings = { brokers: config.KAFKA_BROKERS, clientId: `${config.KAFKA_CLIENT_ID}-ingest` };
  const kafka = createKafka(kafkaSettings, logger);
  // Idempotent: a produce retried after a lost response does not store the events twice.
  const producer = new TopicProducer(kafkaSettings, codecs, { idempotent: true });
  const admin = kafka.admin();
  const metrics = new IngestMetrics();
  const batching = new BatchingPublisher(producer, topics.events, clock, {
    maxPendingRecords: config.INGEST_MAX_PENDING_EVENTS,
    maxBatchRecords: 5_000,
    produceTimeoutMs: config.INGEST_PRODUCE_TIMEOUT_MS,
    onSend: (_records, ms, ok) => {
      if (ok) metrics.produceSeconds.observe(ms / 1000);
    },
  });
  const publisher = protectingPublisher(
    batching,
    personalDataProtector(keyedHash(config.SEGSTREAM_HMAC_SECRET), [...DEFAULT_PERSONAL_FIELDS, ...(config.INGEST_PERSONAL_FIELDS ?? [])]),
  );
  const app = await buildIngestServer({
    options: {
      maxRequestBytes: config.INGEST_MAX_REQUEST_BYTES,
      requestTimeoutMs: config.INGEST_REQUEST_TIMEOUT_MS,
      operationsTokens: config.OPERATIONS_TOKENS,
      maxEventBytes: config.INGEST_MAX_EVENT_BYTES,
      maxBatchEvents: config.INGEST_MAX_BATCH_EVENTS,
      timeTolerances: { skewToleranceMs: config.INGEST_CLOCK_SKEW_TOLERANCE_MS, futureToleranceMs: config.INGEST_FUTURE_TOLERANCE_MS },
      corsOrigins: config.INGEST_CORS_ORIGINS,
      publicUrl: config.INGEST_PUBLIC_URL,
    },
    writeKeys: config.INGEST_WRITE_KEYS,
    writeKeyOrigins: config.INGEST_WRITE_KEY_ORIGINS ?? new WriteKeyOrigins([]),
    sensorsProjects: config.INGEST_SENSORS_PROJECTS ?? SensorsProjects.none,
    sensorsOrders: config.INGEST_SENSORS_ORDER_EVENTS,
    publisher,
    metrics,
    clock,
    logger,
    brokerReachable: brokerReachability(admin, topics.events.name, clock),
  });

  const lifecycle = new ServiceLifecycle({ logger, stopTimeoutMs: config.SHUTDOWN_TIMEOUT_MS });
  lifecycle.add({
    name: 'kafka-producer',
    start: () => producer.connect(),
    // Requests still waiting get their acknowledgement before the producer goes.
    stop: async () => {
      await publisher.drain();
      await producer.disconnect();
    },
  });
  lifecycle.add({ name: 'kafka-admin', start: () => admin.connect(), stop: () => admin.disconnect() });
  lifecycle.add({
    name: 'http',
    start: async () => {
      const address = await app.listen({ host: config.INGEST_HOST, port: config.INGEST_PORT });
      logger.info(
        { address, writeKeys: config.INGEST_WRITE_KEYS.size, sensorsProjects: config.INGEST_SENSORS_PROJECTS?.size ?? 0, topic: topics.events.name },
        'ingest listening',
      );
    },
    // Stops accepting connections and waits for in-flight requests to be answered.
    stop: () => app.close(),
  });
  return {
    lifecycle,
    metrics,
    url: () => listeningUrl(app),
  };
}
