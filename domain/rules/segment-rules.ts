import { compileCondition } from './condition.ts';
import { type Evaluator, type LogicProblem, truthy } from './json-logic.ts';
import { type MemberEnv, TIME_OPERATORS } from './operators.ts';
import type { ValueType } from './variables.ts';

/** A segment rule as stored: who is in the segment, as JSON-logic over the member context. */
export interface SegmentRule {
  readonly id: string;
  readonly version: number;
  readonly condition: unknown;
}

/** What rules are checked against: the processors' counters and windows, and the computed traits. */
export interface RuleEnvironment {
  readonly counters: readonly string[];
  readonly windowsDays: readonly number[];
  readonly computedTraits: ReadonlyMap<string, ValueType>;
}

export interface CompiledSegmentRule {
  readonly id: string;
  readonly version: number;
  readonly matches: (context: unknown, env: MemberEnv) => boolean;
  /** The member inputs it reads ("traits.tier", "counters.orders", "rfm", "segments", ...); "*" for all. */
  readonly inputs: ReadonlySet<string>;
  /** Its result can change with time alone (windows slide, days pass). */
  readonly timeDependent: boolean;
  /** Variables it reads, to record the values that decided a change. */
  readonly variables: readonly string[];
  /** Segments it reads; evaluated after them. */
  readonly dependsOn: readonly string[];
}

/** Which input a variable belongs to: traits and computed traits one by one, counters per counter, the rest by group. */
export function inputOf(variable: string): string {
  const [root, second] = variable.split('.');
  if (root === '') return '*';
  if ((root === 'traits' || root === 'counters' || root === 'computed') && second) return `${root}.${second}`;
  return root as string;
}

const TIME_INPUTS = new Set(['counters', 'rfm', 'computed']);

export function compileSegmentRule(
  rule: SegmentRule,
  environment: RuleEnvironment,
  segmentIds: ReadonlySet<string>,
  path = 'condition',
): { compiled?: CompiledSegmentRule; problems: readonly LogicProblem[] } {
  const { compiled, problems } = compileCondition(rule.condition, environment, { segments: segmentIds, path });
  if (problems.length > 0) return { problems };
  const rootVariables = compiled.variables.filter((v) => !v.scoped).map((v) => v.name);
  const inputs = new Set(rootVariables.map(inputOf));
  const dependsOn = new Set<string>();
  for (const op of compiled.operators) {
    if (op.name === 'in_segment') dependsOn.add(String(op.firstArgument));
    if (op.name === 'in_segment') inputs.add('segments');
    if (op.name === 'counter' || op.name === 'counter_sum') inputs.add(`counters.${String(op.firstArgument)}`);
  }
  const timeDependent = compiled.operators.some((op) => TIME_OPERATORS.has(op.name)) || [...inputs].some((i) => TIME_INPUTS.has(i.split('.')[0] as string));
  if (inputs.has('segments') && rootVariables.includes('segments')) for (const id of segmentIds) if (id !== rule.id) dependsOn.add(id);
  const evaluate: Evaluator = compiled.evaluate;
  return {
    compiled: {
      id: rule.id,
      version: rule.version,
      matches: (context, env) => truthy(evaluate(context, env)),
      inputs,
      timeDependent,
      variables: [...new Set(rootVariables.filter((v) => v !== ''))],
      dependsOn: [...dependsOn],
    },
    problems: [],
  };
}

/**
 * Orders segment rules so a rule comes after every segment it reads; a cycle is a
 * problem of each rule in it.
 */
export function orderByDependencies(rules: readonly CompiledSegmentRule[]): { ordered: CompiledSegmentRule[]; cycles: Map<string, string[]> } {
  const byId = new Map(rules.map((r) => [r.id, r]));
  const ordered: CompiledSegmentRule[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles = new Map<string, string[]>();
  const visit = (rule: CompiledSegmentRule, trail: string[]) => {
    const seen = state.get(rule.id);
    if (seen === 'done') return;
    if (seen === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(rule.id)), rule.id];
      for (const id of cycle) cycles.set(id, cycle);
      return;
    }
    state.set(rule.id, 'visiting');
    for (const dependency of rule.dependsOn) {
      const next = byId.get(dependency);
      if (next) visit(next, [...trail, rule.id]);
    }
    state.set(rule.id, 'done');
    ordered.push(rule);
  };
  for (const rule of rules) visit(rule, []);
  return { ordered: ordered.filter((r) => !cycles.has(r.id)), cycles };
}
