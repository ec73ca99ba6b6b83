/**
 * The local stack: `up` starts (or reuses) Redis and Apache Kafka and records how to
 * reach them in .segstream/stack.env; `down` stops them.
 *   node scripts/stack.ts up | down [--purge] | status
 */

import { loadConfig } from '../lib/config/load.ts';
import { errorMessage } from '../lib/errors.ts';
import { stackConfigSchema } from './stack/config.ts';
import { ENV_FILE, type StackConfig, type StackState, stackDown, stackStatus, stackUp } from './stack/local-stack.ts';
import { isAlive } from './stack/processes.ts';

function running(pid: number): string {
  return isAlive(pid) ? `pid ${pid}` : `pid ${pid} NOT RUNNING`;
}

function describeKafka(kafka: StackState['kafka']): string {
  const where = kafka.brokers.join(',');
  if (kafka.pids.length === 0) return `${where} (yours), topics with ${kafka.partitions} partitions`;
  const nodes = `${kafka.pids.length} node${kafka.pids.length > 1 ? 's' : ''}`;
  return `${where} (local Apache Kafka ${kafka.version}, ${nodes}: ${kafka.pids.map(running).join(', ')}), ${kafka.partitions} partitions and ${kafka.replicationFactor} replica${kafka.replicationFactor > 1 ? 's' : ''} per topic`;
}

function describeSchemaRegistry(registry: StackState['schemaRegistry']): string {
  if (!registry) return 'schemas/registry.json (fixed ids, no registry server)';
  if (registry.pid === null) return `${registry.url} (yours)`;
  return `${registry.url} (local Apicurio Registry ${registry.version}, ${running(registry.pid)})`;
}

/** What runs where, for people: addresses and processes, never the tokens the state files also hold. */
function describe(state: StackState, config: StackConfig): string[] {
  return [
    `  redis       ${state.redis.url}${state.redis.pid === null ? ' (yours)' : ` (local, ${running(state.redis.pid)})`}`,
    `  kafka       ${describeKafka(state.kafka)}`,
    `  schemas     ${describeSchemaRegistry(state.schemaRegistry)}`,
    `  clickhouse  ${state.clickhouse.url ?? `embedded (chdb) at ${state.clickhouse.path}`}`,
    `  env file    ${config.SEGSTREAM_STATE_DIR}/${ENV_FILE} (readable by its owner only)`,
  ];
}

async function main(argv: readonly string[]): Promise<number> {
  const [command = 'status', ...flags] = argv;
  const config = loadConfig(stackConfigSchema, process.env);
  switch (command) {
    case 'up': {
      const started = Date.now();
      const { state, notes } = await stackUp(config);
      for (const note of notes) console.log(note);
      console.log(`stack up in ${Date.now() - started} ms`);
      console.log(describe(state, config).join('\n'));
      return 0;
    }
    case 'down': {
      const stopped = await stackDown(config, { purge: flags.includes('--purge') });
      console.log(stopped.length > 0 ? `stopped ${stopped.join(', ')}` : 'nothing was running');
      return 0;
    }
    case 'status': {
      const state = stackStatus(config);
      console.log(state ? ['the local stack:', ...describe(state, config)].join('\n') : 'the local stack is not up (run: ./segstream stack up)');
      return 0;
    }
    default:
      console.error(`unknown command ${JSON.stringify(command)}; expected up, down [--purge] or status`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`stack: ${errorMessage(error)}`);
    process.exit(1);
  },
);
