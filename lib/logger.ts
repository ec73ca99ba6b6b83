import { type DestinationStream, type LevelWithSilent, type Logger, pino } from 'pino';

export type { Logger };

/** Fields that hold personal identifiers or credentials, and payload containers that may. */
const SENSITIVE_KEYS = [
  'traits',
  'properties',
  'email',
  'phone',
  'openId',
  'unionId',
  'wechat_openid',
  'wechat_unionid',
  'password',
  'writeKey',
  'authorization',
  'cookie',
];

/**
 * Personal identifiers must never reach a log. pino's `*` matches one level, so every
 * sensitive key is listed at depths 0 to 3; whole payload containers (traits,
 * properties) are censored rather than picked through. Code should still not log
 * payloads at all.
 */
export const REDACTED_PATHS: readonly string[] = SENSITIVE_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`, `*.*.*.${key}`]);

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
