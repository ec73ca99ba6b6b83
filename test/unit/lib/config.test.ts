import { describe, expect, it } from 'vitest';
import { kafkaVars, redisVars } from '../../../lib/config/common.ts';
import { defineConfig, loadConfig } from '../../../lib/config/load.ts';
import { bool, int, oneOf, str } from '../../../lib/config/variables.ts';
import { ConfigError } from '../../../lib/errors.ts';

const schema = defineConfig('example', {
  ...kafkaVars,
  ...redisVars,
  PORT: int('HTTP port', { min: 1, max: 65535 }).default(8080),
  MODE: oneOf('Mode', ['fast', 'safe'] as const).default('safe'),
  DEBUG: bool('Debug').default(false),
  API_SECRET: str('Secret').secret().optional(),
});

const valid = { KAFKA_BROKERS: 'localhost:9092, kafka-2:9093', REDIS_URL: 'redis://localhost:6379' };

function problemsOf(env: Record<string, string>) {
  try {
    loadConfig(schema, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('parses values and applies defaults', () => {
    const config = loadConfig(schema, { ...valid, DEBUG: 'yes' });
    expect(config.KAFKA_BROKERS).toEqual(['localhost:9092', 'kafka-2:9093']);
    expect(config.PORT).toBe(8080);
    expect(config.MODE).toBe('safe');
    expect(config.DEBUG).toBe(true);
    expect(config.API_SECRET).toBeUndefined();
    expect(config.KAFKA_CLIENT_ID).toBe('segstream');
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('names the variable, what was expected and what was received', () => {
    expect(problemsOf({ ...valid, PORT: '70000' })).toEqual([{ variable: 'PORT', expected: 'an integer from 1 to 65535', received: '"70000"' }]);
    expect(problemsOf({ ...valid, MODE: 'turbo' })).toEqual([{ variable: 'MODE', expected: 'one of fast, safe', received: '"turbo"' }]);
    expect(problemsOf({ ...valid, KAFKA_BROKERS: 'localhost' })[0]).toMatchObject({ variable: 'KAFKA_BROKERS', received: '"localhost"' });
    expect(problemsOf({ ...valid, REDIS_URL: 'http://x' })[0]).toMatchObject({ variable: 'REDIS_URL', expected: 'a URL starting with redis:// or rediss://' });
  });

  it('reports every problem at once, including missing required variables', () => {
    const problems = problemsOf({ PORT: 'eighty' });
    expect(problems.map((p) => p.variable).sort()).toEqual(['KAFKA_BROKERS', 'PORT', 'REDIS_URL']);
    expect(problems.find((p) => p.variable === 'REDIS_URL')?.received).toBe('nothing (the variable is unset or empty)');
  });

  it('requires a variable when the one that needs it is set', () => {
    const paired = defineConfig('p', { URL: str('Where').optional(), TOKEN: str('Token').secret().optional() }, { TOKEN: 'URL' });
    expect(loadConfig(paired, {})).toEqual({ URL: undefined, TOKEN: undefined });
    expect(loadConfig(paired, { URL: 'x', TOKEN: 't' })).toEqual({ URL: 'x', TOKEN: 't' });
    expect(() => loadConfig(paired, { URL: 'x' })).toThrow(/TOKEN: expected non-empty text \(needed when URL is set\), received nothing/);
  });

  it('never shows the value of a secret', () => {
    const secretSchema = defineConfig('s', { TOKEN: str('Token', { pattern: /^tok_/ }).secret().required() });
    try {
      loadConfig(secretSchema, { TOKEN: 'hunter2' });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toContain('TOKEN: expected text matching /^tok_/, received a value of 7 characters (not shown: secret)');
      expect((error as Error).message).not.toContain('hunter2');
    }
  });

  it('formats a readable message naming the service', () => {
    expect(() => loadConfig(schema, {})).toThrow(/Invalid configuration for example:\n {2}- KAFKA_BROKERS: expected a comma-separated list of host:port/);
  });
});
