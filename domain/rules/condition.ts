import { type CompiledLogic, compileLogic, type LogicProblem } from './json-logic.ts';
import { MEMBER_OPERATORS } from './operators.ts';
import type { RuleEnvironment } from './segment-rules.ts';
import { checkTypes } from './type-check.ts';
import { variableCatalog } from './variables.ts';

/**
 * A rule's condition compiled with the member operators and, when it compiled, checked
 * against what the processors keep (variables, counters, windows) and the segments it may
 * read; `event` lets it read `event.*` (triggers and computed traits).
 */
export function compileCondition(
  condition: unknown,
  environment: RuleEnvironment,
  options: { readonly segments: ReadonlySet<string>; readonly event?: boolean; readonly path?: string },
): { compiled: CompiledLogic; problems: LogicProblem[] } {
  const path = options.path ?? 'condition';
  const { compiled, problems } = compileLogic(condition, { custom: MEMBER_OPERATORS, path });
  if (problems.length > 0) return { compiled, problems: [...problems] };
  return {
    compiled,
    problems: checkTypes(condition, path, {
      catalog: variableCatalog({ ...environment, event: options.event }),
      segments: options.segments,
      counters: new Set(environment.counters),
      longestWindowDays: Math.max(...environment.windowsDays),
    }),
  };
}
