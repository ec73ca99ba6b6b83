import { type DestinationStream, type LevelWithSilent, type Logger, pino } from 'pino';

export type { Logger };

/**
 * Personal identifiers must never reach a log. These paths are censored wherever a
 * logged object carries them; code should still avoid logging payloads at all.
 */
export const REDACTED_PATHS: readonly string[] = [
  'traits',
  '*.traits',
  'properties.email',
  'properties.phone',
  '*.email',
  '*.phone',
  '*.openId',
  '*.unionId',
  '*.password',
  '*.writeKey',
  'writeKey',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
];

export function createLogger(options: { service: string; level: LevelWithSilent; destination?: DestinationStream }): Logger {
  return pino(
    {
      name: options.service,
      level: options.level,
      redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
      base: { service: options.service },
    },
    options.destination,
  );
}
