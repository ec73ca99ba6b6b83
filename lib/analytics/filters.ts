/**
 * Property filters of analysis requests, as parameter-bound SQL over the events table's
 * `properties` JSON text. Text comparisons read the property as text; numeric ones read it
 * as a number (a numeric text counts as its number; anything else never matches).
 */

export type FilterOp = 'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte' | 'contains';

export interface PropertyFilter {
  readonly property: string;
  readonly op: FilterOp;
  readonly value: string | number;
}

/** Collects bound parameters under generated names, so no request value ever enters the SQL text. */
export class Params {
  readonly values: Record<string, unknown> = {};
  #next = 0;

  /** `{p<n>:Type}` for the value. */
  bind(value: unknown, type: string): string {
    const name = `p${this.#next++}`;
    this.values[name] = value;
    return `{${name}:${type}}`;
  }
}

const NUMERIC: Readonly<Record<string, string>> = { gt: '>', gte: '>=', lt: '<', lte: '<=' };

/** One filter as a SQL condition. */
export function filterCondition(filter: PropertyFilter, params: Params): string {
  const property = params.bind(filter.property, 'String');
  if (filter.op in NUMERIC || (typeof filter.value === 'number' && (filter.op === 'eq' || filter.op === 'neq'))) {
    const op = NUMERIC[filter.op] ?? (filter.op === 'eq' ? '=' : '!=');
    // Null (not a number) compares as NULL, which WHERE treats as false; neq keeps it false too.
    return `ifNull(JSONExtract(properties, ${property}, 'Nullable(Float64)') ${op} ${params.bind(Number(filter.value), 'Float64')}, 0)`;
  }
  const text = `JSONExtractString(properties, ${property})`;
  const value = params.bind(String(filter.value), 'String');
  if (filter.op === 'contains') return `position(${text}, ${value}) > 0`;
  return `${text} ${filter.op === 'eq' ? '=' : '!='} ${value}`;
}
