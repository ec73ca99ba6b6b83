import { loggingVars, operationsVars, redisVars } from '../lib/config/common.ts';
import { defineConfig } from '../lib/config/load.ts';
import { int, list, str, url } from '../lib/config/variables.ts';

export const rulesConfigSchema = defineConfig('rules', {
  ...loggingVars,
  ...operationsVars,
  ...redisVars,
  RULES_HOST: str('Address of the rules admin API').default('0.0.0.0'),
  RULES_PORT: int('Port of the rules admin API', { min: 0, max: 65535 }).default(8082),
  RULES_PROCESSOR_URL: url('Member API of the processors (their PROCESSOR_PORT), which answers explain and dry run for the rules API', [
    'http:',
    'https:',
  ]).optional(),
  RULES_PROCESSOR_TOKEN: str("A token from the processors' PROCESSOR_API_TOKENS, for explain and dry run").secret().optional(),
  RULES_API_TOKENS: list('Admin API bearer tokens as name:role:token (role viewer, editor or admin; the name is what the audit log records)', {
    pattern: /^[A-Za-z0-9_.@-]+:(viewer|editor|admin):\S{12,}$/,
  })
    .secret()
    .required(),
});
