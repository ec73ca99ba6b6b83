import type { DestinationStream } from 'pino';
import { ingestConfigSchema } from '../../ingest/config.ts';
import { createIngestService, type IngestService } from '../../ingest/service.ts';
import { systemClock } from '../../lib/clock.ts';
import { loadConfig } from '../../lib/config/load.ts';
import { createKafka } from '../../lib/kafka/client.ts';
import { loadTopicSetup } from '../../lib/kafka/codecs.ts';
import { createLogger } from '../../lib/logger.ts';
import type { EventRecord } from '../../schemas/records.ts';
import { TEST_HMAC_SECRET } from './processor-service.ts';
import { consumeRange, highWatermarks, type PartitionOffsets } from './read-range.ts';

export const TEST_WRITE_KEYS = 'wk_web=web,wk_app=app';

export interface RunningIngest {
  readonly service: IngestService;
  readonly url: string;
  /** High watermarks of the events topic now: pass to eventsSince() to read what comes after. */
  mark(): Promise<PartitionOffsets>;
  /** Every event record produced to the events topic since `mark`, decoded. */
  eventsSince(mark: PartitionOffsets): Promise<EventRecord[]>;
  stop(): Promise<void>;
}

/** The real ingest service, built from configuration as main.ts builds it, on a free port. */
/** `log`: where the service's log goes (at LOG_LEVEL), for a test that reads it. */
export async function startIngest(brokers: readonly string[], overrides: Record<string, string> = {}, log?: DestinationStream): Promise<RunningIngest> {
  const env = {
    KAFKA_BROKERS: brokers.join(','),
    INGEST_HOST: '127.0.0.1',
    INGEST_PORT: '0',
    INGEST_WRITE_KEYS: TEST_WRITE_KEYS,
    SEGSTREAM_HMAC_SECRET: TEST_HMAC_SECRET,
    LOG_LEVEL: 'fatal',
    ...overrides,
  };
  const config = loadConfig(ingestConfigSchema, env);
  const logger = createLogger({ service: 'ingest-test', level: config.LOG_LEVEL, destination: log });
  const service = await createIngestService(config, systemClock, logger);
  await service.lifecycle.start();
  // The service's own topic names and schema registry (the files, or SCHEMA_REGISTRY_URL's).
  const { topics, codecs } = await loadTopicSetup(config);
  const kafka = createKafka({ brokers, clientId: 'ingest-test-reader' }, logger);
  return {
    service,
    url: service.url(),
    mark: () => highWatermarks(kafka, topics.events.name),
    async eventsSince(mark) {
      const records: EventRecord[] = [];
      await consumeRange(kafka, codecs, topics.events, mark, await highWatermarks(kafka, topics.events.name), async (r) => {
        records.push(r);
      });
      return records;
    },
    stop: () => service.lifecycle.stop(),
  };
}
