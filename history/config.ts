import { clickhouseVars, kafkaVars, loggingVars, operationsVars, topicVars } from '../lib/config/common.ts';
import { defineConfig } from '../lib/config/load.ts';
import { int, list, oneOf, str } from '../lib/config/variables.ts';

export const historyConfigSchema = defineConfig('history', {
  ...loggingVars,
  ...operationsVars,
  ...kafkaVars,
  ...topicVars,
  ...clickhouseVars,
  HISTORY_GROUP_ID: str('Kafka consumer group of the history service').default('segstream-history'),
  HISTORY_NEW_GROUP_STARTS_AT: oneOf('Where a consumer group with no committed offsets starts reading the topics history is made of', [
    'earliest',
    'latest',
  ] as const).default('earliest'),
  HISTORY_SESSION_TIMEOUT_MS: int(
    "How long a replica that stopped answering keeps its partitions before the group hands them on (at least the broker's group.min.session.timeout.ms, 6 s by default)",
    { min: 6_000 },
  ).default(10_000),
  HISTORY_MAX_ROWS: int('Most rows written to ClickHouse in one insert; offsets are committed once the insert holding their rows succeeded', {
    min: 1,
    max: 1_000_000,
  }).default(20_000),
  HISTORY_MAX_AGE_MS: int('Longest rows wait for a larger insert before they are written (and their offsets committed)', { min: 10, max: 60_000 }).default(
    1_000,
  ),
  HISTORY_HOST: str('Address of the history service (analyses, health, metrics)').default('0.0.0.0'),
  HISTORY_PORT: int('Port of the history service', { min: 0, max: 65535 }).default(8084),
  HISTORY_READ_TOKENS: list(
    'Bearer tokens of services (the query service, the processors) allowed to run analyses on the ClickHouse this service owns, at POST /warehouse/analyses/<name> (named analyses only, never SQL); empty: not served',
  )
    .secret()
    .default([]),
  HISTORY_READ_TIMEOUT_MS: int('Longest an analysis asked for at /warehouse/analyses may run before it is stopped', { min: 100, max: 600_000 }).default(30_000),
  HISTORY_READ_MAX_MEMORY_MB: int('Most memory an analysis asked for at /warehouse/analyses may use in ClickHouse before it is stopped', {
    min: 16,
    max: 1_048_576,
  }).default(4_096),
});
