/**
 * A processor service as processors/main.ts runs it, in a process of its own, with a clock
 * TEST_CLOCK_OFFSET_MS ahead of the system's (a run "started days later"): for tests that
 * kill processors and move their clocks. Configured by the environment like main.ts.
 */
import { loadConfig } from '../../lib/config/load.ts';
import { errorMessage } from '../../lib/errors.ts';
import { createLogger } from '../../lib/logger.ts';
import { processorConfigSchema } from '../../processors/config.ts';
import { createProcessorService } from '../../processors/service.ts';

const offset = Number(process.env.TEST_CLOCK_OFFSET_MS ?? '0');
if (!Number.isSafeInteger(offset)) throw new Error(`TEST_CLOCK_OFFSET_MS: expected an integer, received ${process.env.TEST_CLOCK_OFFSET_MS}`);
const config = loadConfig(processorConfigSchema, process.env);
const logger = createLogger({ service: 'processors', level: config.LOG_LEVEL });
createProcessorService(config, { now: () => Date.now() + offset }, logger)
  .then(async (service) => {
    await service.lifecycle.start();
    await service.lifecycle.stopOnSignals();
    process.exit(0);
  })
  .catch((error: unknown) => {
    console.error(`processor failed: ${errorMessage(error)}`);
    process.exit(1);
  });
