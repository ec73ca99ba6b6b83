/** Composition root of the history service. */
import { systemClock } from '../lib/clock.ts';
import { loadConfig } from '../lib/config/load.ts';
import { errorMessage } from '../lib/errors.ts';
import { createLogger } from '../lib/logger.ts';
import { historyConfigSchema } from './config.ts';
import { createHistoryService } from './service.ts';

async function main(): Promise<void> {
  const config = loadConfig(historyConfigSchema, process.env);
  const logger = createLogger({ service: 'history', level: config.LOG_LEVEL });
  const service = await createHistoryService(config, systemClock, logger);
  await service.lifecycle.start();
  await service.lifecycle.stopOnSignals();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`history failed: ${errorMessage(error)}`);
    process.exit(1);
  },
);
