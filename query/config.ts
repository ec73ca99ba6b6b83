import { clickhouseVars, loggingVars } from '../lib/config/common.ts';
import { defineConfig } from '../lib/config/load.ts';
import { int, list, str } from '../lib/config/variables.ts';

export const queryConfigSchema = defineConfig('query', {
  ...loggingVars,
  ...clickhouseVars,
  QUERY_HOST: str('Address of the analytics query API').default('0.0.0.0'),
  QUERY_PORT: int('Port of the analytics query API', { min: 0, max: 65535 }).default(8083),
  QUERY_API_TOKENS: list('Bearer tokens allowed to run analyses').secret().required(),
  QUERY_TIMEOUT_MS: int('Longest an analysis may run before it is stopped and answered with 504', { min: 100, max: 600_000 }).default(30_000),
});
