/** Composition root of the processors service. */
import { systemClock } from '../lib/clock.ts';
import { loadConfig } from '../lib/config/load.ts';
import { errorMessage } from '../lib/errors.ts';
import { createLogger } from '../lib/logger.ts';
import { processorConfigSchema } from './config.ts';
import { createProcessorService } from './service.ts';

async function main(): Promise<void> {
  const config = loadConfig(processorConfigSchema, process.env);
  const logger = createLogger({ service: 'processors', level: config.LOG_LEVEL });
  const service = await createProcessorService(config, systemClock, logger);
  await service.lifecycle.start();
  await service.lifecycle.stopOnSignals();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`processors failed: ${errorMessage(error)}`);
    process.exit(1);
  },
);
