import { clickhouseVars, kafkaVars, partitionVars, topicVars } from '../../lib/config/common.ts';
import { defineConfig } from '../../lib/config/load.ts';
import { hostPortList, int, oneOf, str, url } from '../../lib/config/variables.ts';

/** The local stack: each service is the user's when its variable is set, started here otherwise. */
export const stackConfigSchema = defineConfig('stack', {
  SEGSTREAM_STATE_DIR: str('Where the local stack keeps its processes, logs, env file, Kafka data and embedded ClickHouse data').default('.segstream'),
  KAFKA_BROKERS: hostPortList('Use this Kafka instead of starting a local one (the stack still creates the topics on it)').optional(),
  KAFKA_LOCAL_BROKERS: int(
    'Nodes of the local Kafka cluster: 1 is one combined broker/controller; from 3 on, topics get 3 replicas and min.insync.replicas=2',
    { min: 1, max: 9 },
  ).default(1),
  REDIS_URL: url('Use this Redis instead of starting a local redis-server', ['redis:', 'rediss:']).optional(),
  SCHEMA_REGISTRY: oneOf(
    'Where schema ids come from when SCHEMA_REGISTRY_URL is unset: "file" (schemas/registry.json, no server) or "local" (the stack starts Apicurio Registry and the services register and resolve schemas through its Confluent-compatible API)',
    ['file', 'local'] as const,
  ).default('file'),
  SCHEMA_REGISTRY_URL: kafkaVars.SCHEMA_REGISTRY_URL,
  ...partitionVars,
  ...topicVars,
  ...clickhouseVars,
});
