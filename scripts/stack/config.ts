import { clickhouseVars, partitionVars, topicVars } from '../../lib/config/common.ts';
import { defineConfig } from '../../lib/config/load.ts';
import { hostPortList, int, str, url } from '../../lib/config/variables.ts';

/** The local stack: each service is the user's when its variable is set, started here otherwise. */
export const stackConfigSchema = defineConfig('stack', {
  SEGSTREAM_STATE_DIR: str('Where the local stack keeps its processes, logs, env file and embedded ClickHouse data').default('.segstream'),
  KAFKA_BROKERS: hostPortList('Use this Kafka instead of starting the local mock broker').optional(),
  KAFKA_MOCK_BROKERS: int('Brokers in the local mock Kafka cluster', { min: 1, max: 9 }).default(3),
  REDIS_URL: url('Use this Redis instead of starting a local redis-server', ['redis:', 'rediss:']).optional(),
  ...partitionVars,
  ...topicVars,
  ...clickhouseVars,
});
