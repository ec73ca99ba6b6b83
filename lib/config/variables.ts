/**
 * Typed environment variables. Each variable knows what it expects, so a bad value is
 * reported as "VARIABLE: expected X, received Y" rather than failing later at use.
 */
export interface VarSpec<T> {
  readonly expected: string;
  readonly description: string;
  readonly secret: boolean;
  /** Undefined when the variable is required or optional without a default. */
  readonly defaultValue: T | undefined;
  readonly required: boolean;
  /** Returns the parsed value, or undefined when the text is not acceptable. */
  parse(raw: string): T | undefined;
}

interface VarBuilder<T> {
  /** Used when the variable is unset or empty. */
  default(value: T): VarSpec<T>;
  optional(): VarSpec<T | undefined>;
  required(): VarSpec<T>;
  secret(): VarBuilder<T>;
}

function builder<T>(expected: string, description: string, parse: (raw: string) => T | undefined, secret = false): VarBuilder<T> {
  const spec = (required: boolean, defaultValue: T | undefined) => ({ expected, description, secret, defaultValue, required, parse });
  return {
    default: (value) => spec(false, value),
    optional: () => spec(false, undefined) as VarSpec<T | undefined>,
    required: () => spec(true, undefined),
    secret: () => builder(expected, description, parse, true),
  };
}

export function str(description: string, options: { pattern?: RegExp; expected?: string; minLength?: number } = {}): VarBuilder<string> {
  const { pattern, minLength = 1 } = options;
  const expected = options.expected ?? (pattern ? `text matching ${pattern}` : minLength > 0 ? 'non-empty text' : 'text');
  return builder(expected, description, (raw) => (raw.length >= minLength && (!pattern || pattern.test(raw)) ? raw : undefined));
}

export function int(description: string, options: { min?: number; max?: number } = {}): VarBuilder<number> {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = options;
  const range = options.min !== undefined || options.max !== undefined ? ` from ${min} to ${max}` : '';
  return builder(`an integer${range}`, description, (raw) => {
    if (!/^-?\d+$/.test(raw.trim())) return undefined;
    const value = Number(raw.trim());
    return Number.isSafeInteger(value) && value >= min && value <= max ? value : undefined;
  });
}

export function bool(description: string): VarBuilder<boolean> {
  const truthy = new Set(['1', 'true', 'yes', 'on']);
  const falsy = new Set(['0', 'false', 'no', 'off']);
  return builder('true or false (also 1/0, yes/no, on/off)', description, (raw) => {
    const text = raw.trim().toLowerCase();
    if (truthy.has(text)) return true;
    if (falsy.has(text)) return false;
    return undefined;
  });
}

export function oneOf<const V extends string>(description: string, values: readonly V[]): VarBuilder<V> {
  return builder(`one of ${values.join(', ')}`, description, (raw) => ((values as readonly string[]).includes(raw.trim()) ? (raw.trim() as V) : undefined));
}

export function url(description: string, protocols: readonly string[]): VarBuilder<string> {
  return builder(`a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`, description, (raw) => {
    try {
      const parsed = new URL(raw.trim());
      return protocols.includes(parsed.protocol) ? raw.trim() : undefined;
    } catch {
      return undefined;
    }
  });
}

const HOST_PORT = /^[A-Za-z0-9._-]+:\d{1,5}$/;

/** A comma-separated list of host:port pairs, as Kafka clients take them. */
export function hostPortList(description: string): VarBuilder<readonly string[]> {
  return builder('a comma-separated list of host:port (e.g. localhost:9092,localhost:9093)', description, (raw) => {
    const items = raw
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0);
    return items.length > 0 && items.every((item) => HOST_PORT.test(item)) ? Object.freeze(items) : undefined;
  });
}

/** A variable with its own parser, for values no other builder describes. */
export function custom<T>(description: string, expected: string, parse: (raw: string) => T | undefined): VarBuilder<T> {
  return builder(expected, description, parse);
}

/** A comma-separated list of non-empty items. */
export function list(description: string, options: { pattern?: RegExp } = {}): VarBuilder<readonly string[]> {
  return builder(`a comma-separated list${options.pattern ? ` of items matching ${options.pattern}` : ''}`, description, (raw) => {
    const items = raw
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0);
    return items.length > 0 && items.every((item) => !options.pattern || options.pattern.test(item)) ? Object.freeze(items) : undefined;
  });
}

/** A finite decimal number within bounds. */
export function num(description: string, options: { min?: number; max?: number } = {}): VarBuilder<number> {
  const { min = -Number.MAX_VALUE, max = Number.MAX_VALUE } = options;
  return builder(`a number${options.min !== undefined || options.max !== undefined ? ` from ${min} to ${max}` : ''}`, description, (raw) => {
    if (!/^-?\d+(\.\d+)?$/.test(raw.trim())) return undefined;
    const value = Number(raw.trim());
    return value >= min && value <= max ? value : undefined;
  });
}
