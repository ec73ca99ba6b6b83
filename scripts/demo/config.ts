import { clickhouseVars, kafkaVars, loggingVars, topicVars } from '../../lib/config/common.ts';
import { defineConfig } from '../../lib/config/load.ts';
import { int } from '../../lib/config/variables.ts';

export const demoConfigSchema = defineConfig('demo', {
  ...loggingVars,
  ...kafkaVars,
  ...topicVars,
  ...clickhouseVars,
  DEMO_SEED: int('Seed of the generated workload (same seed, same events)').default(42),
  DEMO_MEMBERS: int('People in the generated workload', { min: 1, max: 10_000_000 }).default(1_000),
  DEMO_DAYS: int('Days the generated workload spans', { min: 1, max: 3_650 }).default(60),
});
