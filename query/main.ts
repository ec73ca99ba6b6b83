/** Composition root of the query service. */
import { loadConfig } from '../lib/config/load.ts';
import { errorMessage } from '../lib/errors.ts';
import { createLogger } from '../lib/logger.ts';
import { queryConfigSchema } from './config.ts';
import { createQueryService } from './service.ts';

async function main(): Promise<void> {
  const config = loadConfig(queryConfigSchema, process.env);
  const logger = createLogger({ service: 'query', level: config.LOG_LEVEL });
  const service = createQueryService(config, logger);
  await service.lifecycle.start();
  await service.lifecycle.stopOnSignals();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`query failed: ${errorMessage(error)}`);
    process.exit(1);
  },
);
