import { clickhouseVars, kafkaVars, loggingVars, partitionVars, topicVars } from '../../lib/config/common.ts';
import { defineConfig } from '../../lib/config/load.ts';
import { int, str, url } from '../../lib/config/variables.ts';

export const demoConfigSchema = defineConfig('demo', {
  ...loggingVars,
  ...kafkaVars,
  ...topicVars,
  ...partitionVars,
  ...clickhouseVars,
  DEMO_SEED: int('Seed of the generated workload (same seed, same events)').default(42),
  DEMO_MEMBERS: int('People in the generated workload', { min: 1, max: 10_000_000 }).default(1_000),
  DEMO_DAYS: int('Days the generated workload spans', { min: 1, max: 3_650 }).default(60),
  DEMO_INGEST_URL: url('An ingest service for the demo to send to; when unset the demo starts one itself', ['http:', 'https:']).optional(),
  DEMO_WRITE_KEY: str('Write key the demo sends with (the ingest it starts accepts it as source "demo")').secret().default('demo-write-key'),
});
