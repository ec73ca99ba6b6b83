import { ConfigError, type ConfigProblem } from '../errors.ts';
import type { VarSpec } from './variables.ts';

export type VarSpecs = Readonly<Record<string, VarSpec<unknown>>>;

/** One service's configuration: the variables it reads, by name. */
export interface ConfigSchema<S extends VarSpecs> {
  readonly service: string;
  readonly vars: S;
}

export type ConfigOf<S extends VarSpecs> = { readonly [K in keyof S]: S[K] extends VarSpec<infer T> ? T : never };

export type Environment = Readonly<Record<string, string | undefined>>;

export function defineConfig<S extends VarSpecs>(service: string, vars: S): ConfigSchema<S> {
  return Object.freeze({ service, vars: Object.freeze(vars) });
}

function describeReceived(spec: VarSpec<unknown>, raw: string | undefined): string {
  if (raw === undefined || raw.trim() === '') return 'nothing (the variable is unset or empty)';
  if (spec.secret) return `a value of ${raw.length} characters (not shown: secret)`;
  return JSON.stringify(raw);
}

/**
 * Reads and validates every variable of a schema at once, so the operator sees all
 * problems in one error rather than one per restart.
 */
export function loadConfig<S extends VarSpecs>(schema: ConfigSchema<S>, env: Environment): ConfigOf<S> {
  const values: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [];
  for (const [name, spec] of Object.entries(schema.vars)) {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') {
      if (spec.required) problems.push({ variable: name, expected: spec.expected, received: describeReceived(spec, raw) });
      values[name] = spec.defaultValue;
      continue;
    }
    const parsed = spec.parse(raw);
    if (parsed === undefined) problems.push({ variable: name, expected: spec.expected, received: describeReceived(spec, raw) });
    else values[name] = parsed;
  }
  if (problems.length > 0) throw new ConfigError(schema.service, problems);
  return Object.freeze(values) as ConfigOf<S>;
}
