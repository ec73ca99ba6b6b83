/**
 * JSON-logic compiled once into closures: a rule's tree is walked when the rule is
 * loaded, never per event. The standard operators mean exactly what they mean in
 * json-logic-js (the reference; test/unit/rules/differential.test.ts proves it over
 * random rules and data), including its coercions. Custom operators are plugged in by
 * the caller; structural problems (unknown operator, wrong number of arguments) are
 * collected with the JSON path where they occur instead of surfacing per event.
 */

/** What an evaluation can see besides its data: the evaluation time and caller-defined helpers. */
export interface EvalEnv {
  readonly now: number;
  readonly [helper: string]: unknown;
}

export type Evaluator = (data: unknown, env: EvalEnv) => unknown;

export interface CustomOperator {
  readonly minArgs: number;
  readonly maxArgs: number;
  /** One line for validation messages and docs. */
  readonly usage: string;
  /** Arguments arrive evaluated. */
  readonly apply: (args: readonly unknown[], env: EvalEnv) => unknown;
}

export interface LogicProblem {
  /** Where in the document, e.g. `condition.and[1].>[0]`. */
  readonly path: string;
  readonly operator?: string;
  readonly variable?: string;
  readonly message: string;
}

/** A variable read with a constant name, and whether it reads the root data (not an element inside map/filter/...). */
export interface VariableUse {
  readonly name: string;
  readonly path: string;
  readonly scoped: boolean;
}

export interface CompiledLogic {
  readonly evaluate: Evaluator;
  readonly variables: readonly VariableUse[];
  /** Custom operators used, with where and their constant first argument (e.g. the segment of `in_segment`). */
  readonly operators: readonly { readonly name: string; readonly path: string; readonly firstArgument: unknown }[];
}

/** json-logic's truthiness: an empty array is false, otherwise JavaScript's. */
export function truthy(value: unknown): boolean {
  if (Array.isArray(value) && value.length === 0) return false;
  return Boolean(value);
}

export function isLogic(node: unknown): node is Record<string, unknown> {
  return typeof node === 'object' && node !== null && !Array.isArray(node) && Object.keys(node).length === 1;
}

const ARITY: Readonly<Record<string, readonly [number, number]>> = {
  '==': [2, 2],
  '===': [2, 2],
  '!=': [2, 2],
  '!==': [2, 2],
  '>': [2, 2],
  '>=': [2, 2],
  '<': [2, 3],
  '<=': [2, 3],
  '!': [1, 1],
  '!!': [1, 1],
  '%': [2, 2],
  in: [2, 2],
  cat: [1, Number.POSITIVE_INFINITY],
  substr: [2, 3],
  '+': [1, Number.POSITIVE_INFINITY],
  '*': [1, Number.POSITIVE_INFINITY],
  '-': [1, 2],
  '/': [2, 2],
  min: [1, Number.POSITIVE_INFINITY],
  max: [1, Number.POSITIVE_INFINITY],
  merge: [0, Number.POSITIVE_INFINITY],
  var: [0, 2],
  missing: [1, Number.POSITIVE_INFINITY],
  missing_some: [2, 2],
  if: [1, Number.POSITIVE_INFINITY],
  '?:': [1, Number.POSITIVE_INFINITY],
  and: [1, Number.POSITIVE_INFINITY],
  or: [1, Number.POSITIVE_INFINITY],
  filter: [2, 2],
  map: [2, 2],
  all: [2, 2],
  none: [2, 2],
  some: [2, 2],
  reduce: [2, 3],
};

export const STANDARD_OPERATORS: readonly string[] = Object.freeze(Object.keys(ARITY));

const constant =
  (value: unknown): Evaluator =>
  () =>
    value;

/** Reads a dotted path as json-logic's `var` does: a missing step gives the default (null when none). */
function readPath(data: unknown, steps: readonly string[], notFound: unknown): unknown {
  let current = data;
  for (const step of steps) {
    if (current === null || current === undefined) return notFound;
    current = (current as Record<string, unknown>)[step];
    if (current === undefined) return notFound;
  }
  return current;
}

function readVar(data: unknown, name: unknown, notFound: unknown): unknown {
  if (name === undefined || name === '' || name === null) return data;
  return readPath(data, String(name).split('.'), notFound);
}

function missingKeys(data: unknown, args: readonly unknown[]): unknown[] {
  const keys = (Array.isArray(args[0]) ? args[0] : args) as readonly unknown[];
  const missing: unknown[] = [];
  for (const key of keys) {
    const value = readVar(data, key, null);
    if (value === null || value === '') missing.push(key);
  }
  return missing;
}

/* Standard operators taking evaluated arguments, written as json-logic-js writes them (its coercions included). */
/* biome-ignore-start lint/suspicious/noDoubleEquals: json-logic's == and != are JavaScript's loose comparisons */
const EAGER: Readonly<Record<string, (args: readonly unknown[], data: unknown) => unknown>> = {
  '==': ([a, b]) => a == b,
  '===': ([a, b]) => a === b,
  '!=': ([a, b]) => a != b,
  '!==': ([a, b]) => a !== b,
  '>': ([a, b]) => (a as number) > (b as number),
  '>=': ([a, b]) => (a as number) >= (b as number),
  '<': ([a, b, c]) => (c === undefined ? (a as number) < (b as number) : (a as number) < (b as number) && (b as number) < (c as number)),
  '<=': ([a, b, c]) => (c === undefined ? (a as number) <= (b as number) : (a as number) <= (b as number) && (b as number) <= (c as number)),
  '!!': ([a]) => truthy(a),
  '!': ([a]) => !truthy(a),
  '%': ([a, b]) => (a as number) % (b as number),
  in: ([a, b]) => {
    if (!b || typeof (b as { indexOf?: unknown }).indexOf === 'undefined') return false;
    return (b as { indexOf: (x: unknown) => number }).indexOf(a) !== -1;
  },
  cat: (args) => Array.prototype.join.call(args, ''),
  substr: ([source, start, end]) => {
    if ((end as number) < 0) {
      const rest = String(source).substr(start as number);
      return rest.substr(0, rest.length + (end as number));
    }
    return String(source).substr(start as number, end as number);
  },
  '+': (args) => args.reduce<number>((sum, x) => Number.parseFloat(sum as unknown as string) + Number.parseFloat(x as string), 0),
  '*': (args) => (args as unknown[]).reduce((product, x) => Number.parseFloat(product as string) * Number.parseFloat(x as string)),
  '-': ([a, b]) => (b === undefined ? -(a as number) : (a as number) - (b as number)),
  '/': ([a, b]) => (a as number) / (b as number),
  min: (args) => Math.min(...(args as number[])),
  max: (args) => Math.max(...(args as number[])),
  merge: (args) => args.reduce<unknown[]>((all, x) => all.concat(x), []),
  var: ([name, notFound], data) => readVar(data, name, notFound === undefined ? null : notFound),
  missing: (args, data) => missingKeys(data, args),
  missing_some: ([needed, options], data) => {
    const missing = missingKeys(data, [options]);
    return (options as unknown[]).length - missing.length >= (needed as number) ? [] : missing;
  },
};
/* biome-ignore-end lint/suspicious/noDoubleEquals: end of json-logic's operators */

/** Builds the evaluator of one operator from its compiled arguments: fixed arities get closures without argument arrays. */
function eagerEvaluator(op: string, args: readonly Evaluator[]): Evaluator {
  const [a, b] = args as [Evaluator, Evaluator];
  switch (op) {
    case '===':
      return (d, e) => a(d, e) === b(d, e);
    case '!==':
      return (d, e) => a(d, e) !== b(d, e);
    case '>':
      if (args.length === 2) return (d, e) => (a(d, e) as number) > (b(d, e) as number);
      break;
    case '>=':
      if (args.length === 2) return (d, e) => (a(d, e) as number) >= (b(d, e) as number);
      break;
    case '<':
      if (args.length === 2) return (d, e) => (a(d, e) as number) < (b(d, e) as number);
      break;
    case '<=':
      if (args.length === 2) return (d, e) => (a(d, e) as number) <= (b(d, e) as number);
      break;
    case '!':
      if (args.length === 1) return (d, e) => !truthy(a(d, e));
      break;
    case '!!':
      if (args.length === 1) return (d, e) => truthy(a(d, e));
      break;
  }
  const apply = EAGER[op] as (args: readonly unknown[], data: unknown) => unknown;
  return (d, e) =>
    apply(
      args.map((f) => f(d, e)),
      d,
    );
}

class Compiler {
  readonly problems: LogicProblem[] = [];
  readonly variables: VariableUse[] = [];
  readonly operators: { name: string; path: string; firstArgument: unknown }[] = [];
  readonly #custom: Readonly<Record<string, CustomOperator>>;

  constructor(custom: Readonly<Record<string, CustomOperator>>) {
    this.#custom = custom;
  }

  compile(node: unknown, path: string, scoped: boolean): Evaluator {
    if (Array.isArray(node)) {
      const items = node.map((item, i) => this.compile(item, `${path}[${i}]`, scoped));
      return (d, e) => items.map((f) => f(d, e));
    }
    if (!isLogic(node)) return constant(node);
    const op = Object.keys(node)[0] as string;
    const raw = node[op];
    const values: unknown[] = Array.isArray(raw) ? raw : [raw];
    const at = `${path}.${op}`;
    const custom = Object.hasOwn(this.#custom, op) ? this.#custom[op] : undefined;
    const arity: readonly [number, number] | undefined = custom ? [custom.minArgs, custom.maxArgs] : ARITY[op];
    if (!arity) {
      this.problems.push({
        path: at,
        operator: op,
        message: `unknown operator "${op}"; known operators: ${[...STANDARD_OPERATORS, ...Object.keys(this.#custom)].join(', ')}`,
      });
      return constant(null);
    }
    if (values.length < arity[0] || values.length > arity[1]) {
      const expected = arity[0] === arity[1] ? `${arity[0]}` : arity[1] === Number.POSITIVE_INFINITY ? `at least ${arity[0]}` : `${arity[0]} to ${arity[1]}`;
      this.problems.push({
        path: at,
        operator: op,
        message: `"${op}" takes ${expected} argument${arity[0] === 1 && arity[1] === 1 ? '' : 's'}${custom ? ` (${custom.usage})` : ''}, received ${values.length}`,
      });
      return constant(null);
    }
    const argument = (i: number, inScope = scoped) => this.compile(values[i], `${at}[${i}]`, inScope);

    switch (op) {
      case 'if':
      case '?:': {
        const parts = values.map((_, i) => argument(i));
        return (d, e) => {
          let i = 0;
          for (; i < parts.length - 1; i += 2) if (truthy((parts[i] as Evaluator)(d, e))) return (parts[i + 1] as Evaluator)(d, e);
          return i === parts.length - 1 ? (parts[i] as Evaluator)(d, e) : null;
        };
      }
      case 'and':
      case 'or': {
        const parts = values.map((_, i) => argument(i));
        const stopWhen = op === 'or';
        return (d, e) => {
          let current: unknown;
          for (const part of parts) {
            current = part(d, e);
            if (truthy(current) === stopWhen) return current;
          }
          return current;
        };
      }
      case 'filter':
      case 'map':
      case 'all':
      case 'none':
      case 'some':
      case 'reduce':
        return this.#scoped(op, argument(0), argument(1, true), values.length > 2 ? argument(2) : undefined);
      case 'var':
        return this.#variable(values, at, scoped, argument);
    }
    const args = values.map((_, i) => argument(i));
    if (custom) {
      this.operators.push({ name: op, path: at, firstArgument: isLogic(values[0]) ? undefined : values[0] });
      if (args.length === 1) {
        const [a] = args as [Evaluator];
        return (d, e) => custom.apply([a(d, e)], e);
      }
      return (d, e) =>
        custom.apply(
          args.map((f) => f(d, e)),
          e,
        );
    }
    return eagerEvaluator(op, args);
  }

  #scoped(op: string, over: Evaluator, logic: Evaluator, initial: Evaluator | undefined): Evaluator {
    switch (op) {
      case 'filter':
        return (d, e) => {
          const items = over(d, e);
          return Array.isArray(items) ? items.filter((item) => truthy(logic(item, e))) : [];
        };
      case 'map':
        return (d, e) => {
          const items = over(d, e);
          return Array.isArray(items) ? items.map((item) => logic(item, e)) : [];
        };
      case 'all':
        return (d, e) => {
          const items = over(d, e);
          if (!Array.isArray(items) || items.length === 0) return false;
          for (const item of items) if (!truthy(logic(item, e))) return false;
          return true;
        };
      case 'none':
        return (d, e) => {
          const items = over(d, e);
          if (!Array.isArray(items) || items.length === 0) return true;
          for (const item of items) if (truthy(logic(item, e))) return false;
          return true;
        };
      case 'some':
        return (d, e) => {
          const items = over(d, e);
          if (!Array.isArray(items) || items.length === 0) return false;
          for (const item of items) if (truthy(logic(item, e))) return true;
          return false;
        };
      default:
        return (d, e) => {
          const items = over(d, e);
          const start = initial ? initial(d, e) : null;
          if (!Array.isArray(items)) return start;
          return items.reduce((accumulator, current) => logic({ current, accumulator }, e), start);
        };
    }
  }

  #variable(values: readonly unknown[], at: string, scoped: boolean, argument: (i: number) => Evaluator): Evaluator {
    const [name, fallback] = values;
    const notFound = values.length > 1 ? argument(1) : constant(null);
    if (isLogic(name) || Array.isArray(name)) {
      // A name computed at evaluation time cannot be checked against the known variables.
      if (!scoped) this.problems.push({ path: `${at}[0]`, operator: 'var', message: 'a variable name must be a constant text, not computed' });
      const nameOf = argument(0);
      return (d, e) => {
        const value = notFound(d, e);
        return readVar(d, nameOf(d, e), value === undefined ? null : value);
      };
    }
    this.variables.push({ name: name === undefined || name === null ? '' : String(name), path: `${at}[0]`, scoped });
    if (name === undefined || name === '' || name === null) return (d) => d;
    const steps = String(name).split('.');
    if (fallback === undefined || fallback === null) return (d) => readPath(d, steps, null);
    return (d, e) => {
      const value = notFound(d, e);
      return readPath(d, steps, value === undefined ? null : value);
    };
  }
}

/**
 * Compiles a JSON-logic document. Problems are returned rather than thrown so a
 * validation can report all of them at once; `path` names the document's root in them.
 */
export function compileLogic(
  logic: unknown,
  options: { readonly custom?: Readonly<Record<string, CustomOperator>>; readonly path?: string } = {},
): { compiled: CompiledLogic; problems: readonly LogicProblem[] } {
  const compiler = new Compiler(options.custom ?? {});
  const evaluate = compiler.compile(logic, options.path ?? '$', false);
  return { compiled: { evaluate, variables: compiler.variables, operators: compiler.operators }, problems: compiler.problems };
}
