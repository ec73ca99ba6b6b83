/** Composition root of the ingest service. */
import { systemClock } from '../lib/clock.ts';
import { loadConfig } from '../lib/config/load.ts';
import { errorMessage } from '../lib/errors.ts';
import { createLogger } from '../lib/logger.ts';
import { ingestConfigSchema } from './config.ts';
import { createIngestService } from './service.ts';

async function main(): Promise<void> {
  const config = loadConfig(ingestConfigSchema, process.env);
  const logger = createLogger({ service: 'ingest', level: config.LOG_LEVEL });
  const service = await createIngestService(config, systemClock, logger);
  await service.lifecycle.start();
  await service.lifecycle.stopOnSignals();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`ingest failed: ${errorMessage(error)}`);
    process.exit(1);
  },
);
