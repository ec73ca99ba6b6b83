import { ConfigError, type ConfigProblem } from '../errors.ts';
import type { VarSpec } from './variables.ts';

export type VarSpecs = Readonly<Record<string, VarSpec<unknown>>>;

/** One service's configuration: the variables it reads, by name. */
export interface ConfigSchema<S extends VarSpecs> {
  readonly service: string;
  readonly vars: S;
  /** Optional variables that become required when another one is set: variable -> the one that needs it. */
  readonly requiredWhenSet: RequiredWhenSet<S>;
}

export type ConfigOf<S extends VarSpecs> = { readonly [K in keyof S]: S[K] extends VarSpec<infer T> ? T : never };

export type Environment = Readonly<Record<string, string | undefined>>;

type RequiredWhenSet<S extends VarSpecs> = Readonly<Partial<Record<keyof S, keyof S>>>;

export function defineConfig<S extends VarSpecs>(service: string, vars: S, requiredWhenSet: RequiredWhenSet<S> = {} as RequiredWhenSet<S>): ConfigSchema<S> {
  return Object.freeze({ service, vars: Object.freeze(vars), requiredWhenSet: Object.freeze(requiredWhenSet) });
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
  for (const [name, needer] of Object.entries(schema.requiredWhenSet) as [string, string][]) {
    const spec = schema.vars[name] as VarSpec<unknown>;
    if (values[name] === undefined && values[needer] !== undefined)
      problems.push({ variable: name, expected: `${spec.expected} (needed when ${needer} is set)`, received: describeReceived(spec, env[name]) });
  }
  if (problems.length > 0) throw new ConfigError(schema.service, problems);
  return Object.freeze(values) as ConfigOf<S>;
}
