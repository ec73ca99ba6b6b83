import jsonLogic from 'json-logic-js';
import { describe, expect, it } from 'vitest';
import { compileLogic, STANDARD_OPERATORS } from '../../../domain/rules/json-logic.ts';
import { Random } from '../../workload/random.ts';

/*
 * The compiled rules must mean what json-logic-js (the reference) means, coercions and
 * all. Random documents over random data: every standard operator, nested, with
 * variables that exist and that do not, defaults, and scoped operators over arrays.
 */

const KEYS = ['a', 'b', 'n', 's', 'flag', 'list', 'nums', 'obj', 'obj.x', 'obj.deep.y', 'missing', 'obj.nope', ''];
const SCALARS: readonly unknown[] = [0, 1, -2, 3.5, 10, 100, '', '0', '1', '10', 'abc', 'b', 'true', true, false, null, [], [1, 2], ['a', 'b']];

function randomData(r: Random): Record<string, unknown> {
  const scalar = () => r.pick(SCALARS);
  return {
    a: scalar(),
    b: scalar(),
    n: r.int(-5, 50),
    s: r.pick(['x', 'abc', '', 'hello world', '12']),
    flag: r.chance(0.5),
    list: Array.from({ length: r.int(0, 4) }, scalar),
    nums: Array.from({ length: r.int(0, 5) }, () => r.int(-3, 9)),
    obj: { x: scalar(), deep: { y: r.int(0, 5) } },
  };
}

function randomLogic(r: Random, depth: number, scoped: boolean): unknown {
  if (depth <= 0 || r.chance(0.25)) {
    if (r.chance(0.5)) {
      const name = scoped ? r.pick(['', 'x', 'current', 'accumulator']) : r.pick(KEYS);
      return r.chance(0.2) ? { var: [name, r.pick(SCALARS)] } : r.chance(0.5) ? { var: name } : { var: [name] };
    }
    return r.pick(SCALARS.filter((v) => !Array.isArray(v)));
  }
  const op = r.pick(STANDARD_OPERATORS);
  const sub = () => randomLogic(r, depth - 1, scoped);
  const count = (min: number, max: number) => Array.from({ length: r.int(min, max) }, sub);
  switch (op) {
    case 'var':
      return randomLogic(r, 0, scoped);
    case 'missing':
      return r.chance(0.5) ? { missing: count(1, 3).map(() => r.pick(KEYS)) } : { missing: [KEYS.slice(0, r.int(1, 5))] };
    case 'missing_some':
      return { missing_some: [r.int(0, 3), KEYS.slice(r.int(0, 4), r.int(5, 9))] };
    case 'filter':
    case 'map':
    case 'all':
    case 'none':
    case 'some':
      return { [op]: [r.pick([{ var: 'nums' }, { var: 'list' }, { var: 'a' }, [1, 2, 3]]), randomLogic(r, depth - 1, true)] };
    case 'reduce':
      return {
        reduce: [r.pick([{ var: 'nums' }, { var: 'list' }]), { '+': [{ var: 'current' }, { var: 'accumulator' }] }, ...(r.chance(0.5) ? [r.int(0, 5)] : [])],
      };
    case 'if':
    case '?:':
      return { [op]: count(1, 5) };
    case 'and':
    case 'or':
    case 'cat':
    case '+':
    case 'min':
    case 'max':
    case 'merge':
      return { [op]: count(1, 4) };
    case '*':
      return { [op]: count(1, 3) };
    case '<':
    case '<=':
      return { [op]: count(2, 3) };
    case '-':
      return { [op]: count(1, 2) };
    case 'substr':
      return { substr: [sub(), r.int(-3, 3), ...(r.chance(0.5) ? [r.int(-3, 4)] : [])] };
    case '!':
    case '!!':
      return r.chance(0.5) ? { [op]: sub() } : { [op]: [sub()] };
    default:
      return { [op]: count(2, 2) };
  }
}

function outcome(run: () => unknown): { value?: unknown; threw?: true } {
  try {
    return { value: run() };
  } catch {
    return { threw: true };
  }
}

describe('compiled JSON-logic agrees with json-logic-js', () => {
  it('on 20,000 random documents over random data', { timeout: 60_000 }, () => {
    const r = new Random('json-logic-differential');
    let compared = 0;
    const opsSeen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const logic = randomLogic(r, r.int(1, 5), false);
      const { compiled, problems } = compileLogic(logic);
      expect(problems, JSON.stringify(logic)).toEqual([]);
      for (const op of JSON.stringify(logic).matchAll(/"([^"]+)":/g)) opsSeen.add(op[1] as string);
      for (let j = 0; j < 3; j++) {
        const data = randomData(r);
        const expected = outcome(() => jsonLogic.apply(logic as jsonLogic.RulesLogic, structuredClone(data)));
        const actual = outcome(() => compiled.evaluate(structuredClone(data), { now: 0 }));
        if (JSON.stringify(actual) !== JSON.stringify(expected) || !Object.is(actual.value, expected.value)) {
          expect({ logic, data, result: actual }).toEqual({ logic, data, result: expected });
        }
        compared++;
      }
    }
    expect(compared).toBe(60_000);
    // Every standard operator was exercised.
    for (const op of STANDARD_OPERATORS) expect(opsSeen, op).toContain(op);
  });

  it('on the documented edge cases of truthiness, coercion and var', () => {
    const cases: [unknown, unknown][] = [
      [{ '!!': [[]] }, {}],
      [{ '!!': ['0'] }, {}],
      [{ '==': [1, '1'] }, {}],
      [{ '==': [null, undefined] }, {}],
      [{ '===': [1, '1'] }, {}],
      [{ '+': ['1', 2] }, {}],
      [{ '*': ['3'] }, {}],
      [{ '<': [1, { var: 'x' }, 3] }, { x: 2 }],
      [{ var: ['a.b', 'fallback'] }, { a: { c: 1 } }],
      [{ var: 1 }, ['zero', 'one']],
      [{ var: '' }, 42],
      [{ missing: ['a', 'b'] }, { a: '' }],
      [{ missing_some: [1, ['a', 'b']] }, { b: 2 }],
      [{ in: ['Spring', 'Springfield'] }, {}],
      [{ substr: ['jsonlogic', -5] }, {}],
      [{ substr: ['jsonlogic', 1, -2] }, {}],
      [{ cat: ['a', null, 1] }, {}],
      [{ if: [] }, {}],
      [{ and: [true, 'a', 0] }, {}],
      [{ or: [false, [], 'x'] }, {}],
      [{ reduce: [{ var: 'n' }, { '+': [{ var: 'current' }, { var: 'accumulator' }] }, 0] }, { n: [1, 2, 3] }],
      [{ all: [[], { var: '' }] }, {}],
      [{ none: [[], { var: '' }] }, {}],
      [{ max: [] }, {}],
      [{ merge: [1, [2, 3], [[4]]] }, {}],
      [{ if: [{ var: 'x' }] }, { x: 'only' }],
      [{ a: 1, b: 2 }, {}],
    ];
    for (const [logic, data] of cases) {
      const { compiled, problems } = compileLogic(logic);
      if (problems.length > 0) continue; // `max` with no argument is rejected here (see the validation tests)
      expect(compiled.evaluate(data, { now: 0 }), JSON.stringify(logic)).toEqual(jsonLogic.apply(logic as jsonLogic.RulesLogic, data as object));
    }
  });
});
