import { type CustomOperator, compileLogic, type EvalEnv, isLogic, truthy } from './json-logic.ts';

/** One part of a condition, what it gave for the member, and the parts it is made of. */
export interface ExplainedPart {
  readonly path: string;
  readonly operator: string;
  readonly value: unknown;
  readonly held: boolean;
  /** For a variable: its name. */
  readonly variable?: string;
  readonly parts?: readonly ExplainedPart[];
}

const SCOPED = new Set(['filter', 'map', 'all', 'none', 'some', 'reduce']);

/**
 * Evaluates every part of a condition on its own (explaining is rare: each part is
 * compiled here), so an operator sees which comparison failed and with which values.
 * Parts inside filter/map/... run per list item and are shown by their overall result.
 */
export function explainLogic(logic: unknown, data: unknown, env: EvalEnv, custom: Readonly<Record<string, CustomOperator>>, path = 'condition'): ExplainedPart {
  const evaluate = (node: unknown) => compileLogic(node, { custom }).compiled.evaluate(data, env);
  const explain = (node: unknown, at: string): ExplainedPart => {
    if (!isLogic(node)) return { path: at, operator: 'value', value: node, held: truthy(node) };
    const operator = Object.keys(node)[0] as string;
    const raw = node[operator];
    const values: unknown[] = Array.isArray(raw) ? raw : [raw];
    const value = evaluate(node);
    const here = `${at}.${operator}`;
    if (operator === 'var') return { path: here, operator, value, held: truthy(value), variable: String(values[0] ?? '') };
    const parts = SCOPED.has(operator) ? [explain(values[0], `${here}[0]`)] : values.map((v, i) => explain(v, `${here}[${i}]`));
    return { path: here, operator, value, held: truthy(value), parts };
  };
  return explain(logic, path);
}
