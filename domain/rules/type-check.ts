import { isLogic, type LogicProblem } from './json-logic.ts';
import type { ValueType, VariableCatalog, VariableType } from './variables.ts';

/**
 * Type errors a rule would otherwise hide: json-logic compares "10" with 9 or a stage
 * with a misspelt stage name without complaint and the segment simply never matches.
 * Runs on documents that compiled without structural problems.
 */

export interface TypeCheckContext {
  readonly catalog: VariableCatalog;
  readonly segments: ReadonlySet<string>;
  readonly counters: ReadonlySet<string>;
  readonly longestWindowDays: number;
}

interface Inferred {
  readonly type: ValueType;
  /** The constant's value, for literals. */
  readonly literal?: unknown;
  readonly values?: readonly string[];
  readonly variable?: string;
}

const ANY: Inferred = { type: 'any' };
const NUMBER: Inferred = { type: 'number' };
const BOOLEAN: Inferred = { type: 'boolean' };
const numeric = (t: ValueType) => t === 'number' || t === 'timestamp';

const COMPARISONS = new Set(['==', '===', '!=', '!==', '<', '<=', '>', '>=']);
const ARITHMETIC = new Set(['+', '-', '*', '/', '%', 'min', 'max']);
const SCOPED = new Set(['filter', 'map', 'all', 'none', 'some', 'reduce']);

function describe(inferred: Inferred): string {
  if (inferred.variable) return `${inferred.variable} (${inferred.type === 'timestamp' ? 'a timestamp' : `a ${inferred.type}`})`;
  if (inferred.literal !== undefined) return `${JSON.stringify(inferred.literal)} (a ${inferred.type})`;
  return `a ${inferred.type}`;
}

export function checkTypes(logic: unknown, path: string, context: TypeCheckContext): LogicProblem[] {
  const problems: LogicProblem[] = [];

  const infer = (node: unknown, at: string, scoped: boolean): Inferred => {
    if (Array.isArray(node)) {
      node.forEach((item, i) => {
        infer(item, `${at}[${i}]`, scoped);
      });
      return { type: 'array' };
    }
    if (!isLogic(node)) {
      if (typeof node === 'number') return { type: 'number', literal: node };
      if (typeof node === 'string') return { type: 'string', literal: node };
      if (typeof node === 'boolean') return { type: 'boolean', literal: node };
      return ANY;
    }
    const op = Object.keys(node)[0] as string;
    const raw = node[op];
    const values: unknown[] = Array.isArray(raw) ? raw : [raw];
    const here = `${at}.${op}`;
    const argAt = (i: number) => `${here}[${i}]`;

    if (op === 'var') {
      const name = values[0];
      values.slice(1).forEach((v, i) => {
        infer(v, argAt(i + 1), scoped);
      });
      if (scoped || typeof name !== 'string' || name === '') return ANY;
      const found = context.catalog.lookup(name);
      if (!found.ok) {
        problems.push({ path: argAt(0), operator: 'var', variable: name, message: `unknown variable "${name}": ${found.reason}` });
        return ANY;
      }
      return { ...typeOf(found.type), variable: name };
    }
    if (op === 'missing' || op === 'missing_some') {
      const names = op === 'missing' ? (Array.isArray(values[0]) ? values[0] : values) : values[1];
      if (!scoped && Array.isArray(names))
        names.forEach((name, i) => {
          if (typeof name !== 'string') return;
          const found = context.catalog.lookup(name);
          if (!found.ok) problems.push({ path: `${here}[${i}]`, operator: op, variable: name, message: `unknown variable "${name}": ${found.reason}` });
        });
      return { type: 'array' };
    }
    if (SCOPED.has(op)) {
      const over = infer(values[0], argAt(0), scoped);
      if (over.type !== 'array' && over.type !== 'any')
        problems.push({ path: argAt(0), operator: op, message: `"${op}" works on a list; received ${describe(over)}` });
      infer(values[1], argAt(1), true);
      if (values.length > 2) infer(values[2], argAt(2), scoped);
      return op === 'filter' || op === 'map' ? { type: 'array' } : op === 'reduce' ? ANY : BOOLEAN;
    }

    const args = values.map((v, i) => infer(v, argAt(i), scoped));
    if (COMPARISONS.has(op)) {
      for (let i = 0; i + 1 < args.length; i++) compare(args[i] as Inferred, args[i + 1] as Inferred, op, here);
      if (['<', '<=', '>', '>='].includes(op))
        args.forEach((a, i) => {
          if (a.type === 'boolean' || a.type === 'array')
            problems.push({ path: argAt(i), operator: op, variable: a.variable, message: `"${op}" compares numbers or texts; received ${describe(a)}` });
        });
      return BOOLEAN;
    }
    if (ARITHMETIC.has(op)) {
      args.forEach((a, i) => {
        if (a.type !== 'any' && !numeric(a.type))
          problems.push({ path: argAt(i), operator: op, variable: a.variable, message: `"${op}" needs numbers; received ${describe(a)}` });
      });
      return NUMBER;
    }
    switch (op) {
      case '!':
      case '!!':
        return BOOLEAN;
      case 'in': {
        const within = args[1] as Inferred;
        if (within.type !== 'array' && within.type !== 'string' && within.type !== 'any')
          problems.push({ path: argAt(1), operator: op, variable: within.variable, message: `"in" looks in a list or a text; received ${describe(within)}` });
        return BOOLEAN;
      }
      case 'cat':
      case 'substr':
        return { type: 'string' };
      case 'merge':
        return { type: 'array' };
      case 'days_since': {
        const a = args[0] as Inferred;
        if (a.type !== 'any' && !numeric(a.type))
          problems.push({ path: argAt(0), operator: op, variable: a.variable, message: `"days_since" needs a timestamp; received ${describe(a)}` });
        return NUMBER;
      }
      case 'now':
        return { type: 'timestamp' };
      case 'in_segment': {
        const segment = args[0] as Inferred;
        if (typeof segment.literal !== 'string')
          problems.push({ path: argAt(0), operator: op, message: `"in_segment" needs a segment rule id as a constant text; received ${describe(segment)}` });
        else if (!context.segments.has(segment.literal))
          problems.push({
            path: argAt(0),
            operator: op,
            message: `unknown segment "${segment.literal}"; known segments: ${[...context.segments].join(', ') || '(none)'}`,
          });
        return BOOLEAN;
      }
      case 'counter':
      case 'counter_sum': {
        const [name, days] = args as [Inferred, Inferred];
        if (typeof name.literal !== 'string' || !context.counters.has(name.literal))
          problems.push({
            path: argAt(0),
            operator: op,
            message: `"${op}" needs a configured counter name; received ${describe(name)}; known counters: ${[...context.counters].join(', ')}`,
          });
        if (typeof days.literal !== 'number' || !Number.isInteger(days.literal) || days.literal < 1 || days.literal > context.longestWindowDays)
          problems.push({
            path: argAt(1),
            operator: op,
            message: `"${op}" needs a whole number of days from 1 to ${context.longestWindowDays} (the longest kept window); received ${describe(days)}`,
          });
        return NUMBER;
      }
      default:
        return ANY;
    }
  };

  const typeOf = (variable: VariableType): Inferred => (variable.values ? { type: variable.type, values: variable.values } : { type: variable.type });

  const compare = (a: Inferred, b: Inferred, op: string, at: string) => {
    if (a.literal === undefined && b.literal === undefined && (a.type === 'any' || b.type === 'any')) return;
    for (const [variable, other] of [
      [a, b],
      [b, a],
    ] as const) {
      if (variable.values && typeof other.literal === 'string' && !variable.values.includes(other.literal)) {
        problems.push({
          path: at,
          operator: op,
          variable: variable.variable,
          message: `${JSON.stringify(other.literal)} is not a value of ${variable.variable}; its values are ${variable.values.join(', ')}`,
        });
        return;
      }
    }
    if (a.type === 'any' || b.type === 'any' || a.type === b.type || (numeric(a.type) && numeric(b.type))) return;
    problems.push({ path: at, operator: op, variable: a.variable ?? b.variable, message: `"${op}" compares ${describe(a)} with ${describe(b)}` });
  };

  infer(logic, path, false);
  return problems;
}
