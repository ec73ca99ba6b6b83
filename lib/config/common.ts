import { DEFAULT_TOPIC_NAMES } from '../../schemas/topics.ts';
import { hostPortList, int, list, oneOf, str, url } from './variables.ts';

/** Variable groups shared by several services. A service's schema spreads the groups it uses. */

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;
const topicName = (description: string) => str(description, { pattern: TOPIC_NAME, expected: 'a Kafka topic name ([A-Za-z0-9._-], 1-249 characters)' });

export const loggingVars = {
  LOG_LEVEL: oneOf('Minimum level written to the log', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const).default('info'),
};

/** Of every service with an HTTP server. */
export const operationsVars = {
  OPERATIONS_TOKENS: list(
    'Bearer tokens that /metrics and /docs then require (Prometheus: authorization in its scrape config); unset, they are open, as on a private network',
  )
    .secret()
    .optional(),
};

/** Of ingest and the processors, which must share it: ingest hashes personal data, the processors match and look members up by those hashes. */
export const hmacVars = {
  SEGSTREAM_HMAC_SECRET: str(
    'Secret key of the keyed hashes of personal data (at least 16 characters), the same for ingest and the processors; changing it orphans every stored identity',
    { minLength: 16 },
  )
    .secret()
    .required(),
};

export const kafkaVars = {
  KAFKA_BROKERS: hostPortList('Kafka bootstrap brokers').required(),
  KAFKA_CLIENT_ID: str('Client id sent to Kafka').default('segstream'),
  SCHEMA_REGISTRY_URL: url(
    'Schema Registry speaking the Confluent REST API (Confluent, or Apicurio at .../apis/ccompat/v7); when unset the schemas in schemas/ are used with their fixed ids',
    ['http:', 'https:'],
  ).optional(),
};

export const topicVars = {
  KAFKA_TOPIC_EVENTS: topicName('Input events topic').default(DEFAULT_TOPIC_NAMES.events),
  KAFKA_TOPIC_SEGMENT_CHANGES: topicName('Segment entered/exited topic').default(DEFAULT_TOPIC_NAMES.segmentChanges),
  KAFKA_TOPIC_TRIGGERS: topicName('Trigger firings topic').default(DEFAULT_TOPIC_NAMES.triggers),
  KAFKA_TOPIC_LIFECYCLE: topicName('Lifecycle transitions topic').default(DEFAULT_TOPIC_NAMES.lifecycle),
  KAFKA_TOPIC_DLQ: topicName('Dead-letter topic').default(DEFAULT_TOPIC_NAMES.deadLetters),
  KAFKA_TOPIC_MEMBER_EVENTS: topicName('Internal topic: events as the processors applied them, with their member, for the history service').default(
    DEFAULT_TOPIC_NAMES.memberEvents,
  ),
  KAFKA_TOPIC_IDENTITY_CHANGES: topicName('Internal topic: identity links, merges and refusals, for the history service').default(
    DEFAULT_TOPIC_NAMES.identityChanges,
  ),
};

export const redisVars = {
  REDIS_URL: url('Redis (redis:// or rediss://)', ['redis:', 'rediss:']).required(),
  REDIS_KEY_PREFIX: str('Prefix of every Redis key segstream writes (members, identities, timers, rules)').default('seg:'),
};

export const clickhouseVars = {
  CLICKHOUSE_URL: url('ClickHouse server HTTP endpoint; when unset ClickHouse runs embedded (chdb) under CLICKHOUSE_PATH', ['http:', 'https:']).optional(),
  CLICKHOUSE_USER: str('ClickHouse server user').default('default'),
  CLICKHOUSE_PASSWORD: str('ClickHouse server password', { minLength: 0 }).secret().optional(),
  CLICKHOUSE_DATABASE: str('ClickHouse database holding segstream tables', {
    pattern: /^[A-Za-z_][A-Za-z0-9_]*$/,
    expected: 'an identifier ([A-Za-z_][A-Za-z0-9_]*)',
  }).default('segstream'),
  CLICKHOUSE_PATH: str('Data directory of embedded ClickHouse (chdb)').default('.segstream/chdb'),
};

export const partitionVars = {
  KAFKA_PARTITIONS: int('Partitions of each topic the local stack creates: the most processor replicas that can share the work', { min: 1, max: 1024 }).default(
    8,
  ),
};
