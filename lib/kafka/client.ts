import { Kafka, type LogEntry, logLevel } from 'kafkajs';
import type { Logger } from '../logger.ts';
import { stopIdleRequestQueueTimer } from './kafkajs-idle-timer.ts';

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** Broker answers that are part of a normal rebalance; kafkajs logs them as errors. */
const ROUTINE_GROUP_ERRORS = [
  'The group is rebalancing, so a rejoin is needed',
  'Specified group generation id is not valid',
  'The coordinator is not aware of this member',
];

export interface KafkaSettings {
  readonly brokers: readonly string[];
  readonly clientId: string;
}

/** A kafkajs client whose own logs go through the service logger. */
export function createKafka(settings: KafkaSettings, logger: Logger): Kafka {
  const log = logger.child({ component: 'kafkajs' });
  stopIdleRequestQueueTimer();
  return new Kafka({
    clientId: settings.clientId,
    brokers: [...settings.brokers],
    logLevel: logLevel.WARN,
    retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 5_000 },
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, timestamp: _timestamp, logger: _name, ...rest } = entry;
        const routine = typeof rest.error === 'string' && ROUTINE_GROUP_ERRORS.includes(rest.error);
        log[routine ? 'debug' : (LEVELS[level] ?? 'info')](rest, message);
      },
  });
}
