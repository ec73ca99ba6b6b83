/** Composition root of the rules service. */
import { systemClock } from '../lib/clock.ts';
import { loadConfig } from '../lib/config/load.ts';
import { errorMessage } from '../lib/errors.ts';
import { createLogger } from '../lib/logger.ts';
import { rulesConfigSchema } from './config.ts';
import { createRulesService } from './service.ts';

async function main(): Promise<void> {
  const config = loadConfig(rulesConfigSchema, process.env);
  const logger = createLogger({ service: 'rules', level: config.LOG_LEVEL });
  const service = await createRulesService(config, systemClock, logger);
  await service.lifecycle.start();
  await service.lifecycle.stopOnSignals();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`rules failed: ${errorMessage(error)}`);
    process.exit(1);
  },
);
