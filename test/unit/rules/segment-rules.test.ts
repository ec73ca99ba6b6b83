import { describe, expect, it } from 'vitest';
import { evaluateSegments, type Membership, nextTimeBoundary } from '../../../domain/rules/evaluate-segments.ts';
import { explainLogic } from '../../../domain/rules/explain.ts';
import { MEMBER_OPERATORS, type MemberEnv } from '../../../domain/rules/operators.ts';
import { type CompiledSegmentRule, compileSegmentRule, orderByDependencies, type RuleEnvironment } from '../../../domain/rules/segment-rules.ts';
import { MS_PER_DAY } from '../../../lib/clock.ts';

const environment: RuleEnvironment = {
  counters: ['orders', 'page_views'],
  windowsDays: [1, 7, 30, 90, 365],
  computedTraits: new Map([['favourite_category', 'string']]),
};
const NOW = Date.UTC(2026, 10, 23, 15, 30);

function problemsOf(condition: unknown, segments: string[] = []) {
  return compileSegmentRule({ id: 'r', version: 1, condition }, environment, new Set(segments)).problems;
}

function compiled(id: string, condition: unknown, segments: string[] = []): CompiledSegmentRule {
  const result = compileSegmentRule({ id, version: 3, condition }, environment, new Set([id, ...segments]));
  expect(result.problems).toEqual([]);
  return result.compiled as CompiledSegmentRule;
}

describe('segment rule validation names the path, the operator or variable, and what is wrong', () => {
  it('unknown operator', () => {
    expect(problemsOf({ and: [{ '>': [1, 0] }, { contains: ['a', 'b'] }] })).toEqual([
      expect.objectContaining({
        path: 'condition.and[1].contains',
        operator: 'contains',
        message: expect.stringMatching(/^unknown operator "contains"; known operators: ==/),
      }),
    ]);
  });

  it('wrong number of arguments', () => {
    expect(problemsOf({ '>': [{ var: 'orders.count' }] })).toEqual([{ path: 'condition.>', operator: '>', message: '">" takes 2 arguments, received 1' }]);
    expect(problemsOf({ days_since: [1, 2] })[0]?.message).toMatch(/"days_since" takes 1 argument \(\{"days_since": <timestamp>\}/);
  });

  it('unknown variable, with the variables that exist', () => {
    const [problem] = problemsOf({ '>': [{ var: 'orders.total' }, 3] });
    expect(problem).toMatchObject({ path: 'condition.>[0].var[0]', operator: 'var', variable: 'orders.total' });
    expect(problem?.message).toMatch(/^unknown variable "orders.total": known variables: member_id, .*orders.count/);
    expect(problemsOf({ '>': [{ var: 'counters.orders.14d.count' }, 3] })[0]?.message).toMatch(/counter windows are 1d, 7d, 30d, 90d, 365d/);
    expect(problemsOf({ '>': [{ var: 'counters.visits.7d.count' }, 3] })[0]?.message).toMatch(/known counters: orders, page_views/);
    expect(problemsOf({ missing: ['traits.tier', 'nope'] })[0]).toMatchObject({ variable: 'nope', path: 'condition.missing[1]' });
    expect(problemsOf({ '==': [{ var: 'computed.favourite_category' }, 'shoes'] })).toEqual([]);
  });

  it('a computed variable name is refused (it cannot be checked)', () => {
    expect(problemsOf({ var: { cat: ['traits.', 'tier'] } })[0]).toMatchObject({ path: 'condition.var[0]', message: expect.stringMatching(/constant text/) });
  });

  it('type errors: text against number, booleans ordered, arithmetic on text', () => {
    expect(problemsOf({ '>': [{ var: 'lifecycle.stage' }, 3] })[0]).toMatchObject({
      path: 'condition.>',
      variable: 'lifecycle.stage',
      message: '">" compares lifecycle.stage (a string) with 3 (a number)',
    });
    expect(problemsOf({ '<': [{ var: 'known' }, 1] }).map((p) => p.message)).toContain('"<" compares numbers or texts; received known (a boolean)');
    expect(problemsOf({ '+': [{ var: 'rfm.group' }, 1] })[0]?.message).toBe('"+" needs numbers; received rfm.group (a string)');
    expect(problemsOf({ days_since: { var: 'member_id' } })[0]?.message).toBe('"days_since" needs a timestamp; received member_id (a string)');
    expect(problemsOf({ in: ['vip', { var: 'orders.count' }] })[0]?.message).toBe('"in" looks in a list or a text; received orders.count (a number)');
  });

  it('a misspelt stage or RFM group', () => {
    expect(problemsOf({ '==': [{ var: 'lifecycle.stage' }, 'silnet'] })[0]?.message).toBe(
      '"silnet" is not a value of lifecycle.stage; its values are prospect, new, active, declining, silent, churned, reactivated',
    );
    expect(problemsOf({ '==': ['important-valu', { var: 'rfm.group' }] })[0]?.variable).toBe('rfm.group');
  });

  it('custom operators check their constants', () => {
    expect(problemsOf({ in_segment: 'vips' }, ['vip'])[0]?.message).toBe('unknown segment "vips"; known segments: vip');
    expect(problemsOf({ '>': [{ counter: ['orders', 400] }, 1] })[0]?.message).toMatch(/whole number of days from 1 to 365/);
    expect(problemsOf({ '>': [{ counter: ['visits', 14] }, 1] })[0]?.message).toMatch(/needs a configured counter name; received "visits"/);
    expect(problemsOf({ '>': [{ counter: ['orders', 14] }, 1] })).toEqual([]);
  });

  it('reports every problem at once', () => {
    expect(problemsOf({ and: [{ '>': [{ var: 'x' }, 1] }, { '==': [{ var: 'y' }, 2] }] })).toHaveLength(2);
  });
});

describe('compiled segment rules', () => {
  it('know their inputs, whether time moves them, and what they read', () => {
    const rule = compiled(
      'r',
      {
        and: [{ '>=': [{ var: 'counters.orders.30d.count' }, 2] }, { '==': [{ var: 'traits.tier' }, 'gold'] }, { in_segment: 'vip' }],
      },
      ['vip'],
    );
    expect([...rule.inputs].sort()).toEqual(['counters.orders', 'segments', 'traits.tier']);
    expect(rule.timeDependent).toBe(true);
    expect(rule.dependsOn).toEqual(['vip']);
    expect(compiled('t', { '==': [{ var: 'traits.tier' }, 'gold'] }).timeDependent).toBe(false);
    expect(compiled('d', { '>': [{ days_since: { var: 'orders.last_at' } }, 30] }).timeDependent).toBe(true);
  });

  it('are ordered after the segments they read; cycles are named', () => {
    const a = compiled('a', { in_segment: 'b' }, ['b']);
    const b = compiled('b', { '>': [{ var: 'orders.count' }, 0] });
    const c = compiled('c', { in_segment: 'd' }, ['d']);
    const d = compiled('d', { in_segment: 'c' }, ['c']);
    const { ordered, cycles } = orderByDependencies([a, b, c, d]);
    expect(ordered.map((r) => r.id)).toEqual(['b', 'a']);
    expect(cycles.get('c')).toEqual(['c', 'd', 'c']);
  });
});

describe('evaluating a member', () => {
  const rules = orderByDependencies([
    compiled('buyers', { '>=': [{ var: 'orders.count' }, 1] }),
    compiled('gold', { '==': [{ var: 'traits.tier' }, 'gold'] }),
    compiled('gold_buyers', { and: [{ in_segment: 'gold' }, { in_segment: 'buyers' }] }, ['gold', 'buyers']),
    compiled('lapsed', { '>': [{ days_since: { var: 'orders.last_at' } }, 30] }),
  ]).ordered;
  const window = () => ({ count: 0, sum: 0 });

  it('enters and exits in dependency order, with the values that decided', () => {
    const memberships: Record<string, Membership> = {};
    const context = { segments: [] as string[], traits: { tier: 'gold' }, orders: { count: 1, last_at: NOW - 2 * MS_PER_DAY } };
    const first = evaluateSegments({ rules, memberships, context: () => context, now: NOW, window, changed: 'all' });
    expect(first.changes.map((c) => `${c.change} ${c.segmentId}`)).toEqual(['entered buyers', 'entered gold', 'entered gold_buyers']);
    expect(first.changes[1]).toEqual({ segmentId: 'gold', ruleVersion: 3, change: 'entered', at: NOW, values: { 'traits.tier': 'gold' } });
    expect(Object.keys(memberships).sort()).toEqual(['buyers', 'gold', 'gold_buyers']);
    // A time-dependent rule is checked again at UTC midnight (8.5 hours on) at the latest.
    expect(first.nextCheckAt).toBe(Date.UTC(2026, 10, 24));

    context.traits.tier = 'silver';
    const second = evaluateSegments({ rules, memberships, context: () => context, now: NOW + 1000, window, changed: new Set(['traits.tier']) });
    expect(second.changes.map((c) => `${c.change} ${c.segmentId}`)).toEqual(['exited gold', 'exited gold_buyers']);
    expect(context.segments).toEqual(['buyers']);
  });

  it('skips rules whose inputs did not change (time-dependent rules always run)', () => {
    const memberships: Record<string, Membership> = { gold: { since: 0, version: 3 } };
    // The trait is gone but only counters changed: the gold rule is not re-evaluated.
    const context = { segments: [] as string[], traits: {}, orders: { count: 0, last_at: null } };
    const result = evaluateSegments({ rules, memberships, context: () => context, now: NOW, window, changed: new Set(['counters.page_views']) });
    expect(result.changes).toEqual([]);
    expect(memberships.gold).toBeDefined();
  });

  it('a lapsed member enters when the day comes, without an event', () => {
    const memberships: Record<string, Membership> = {};
    const lastOrder = NOW - 30 * MS_PER_DAY;
    const context = { segments: [] as string[], traits: {}, orders: { count: 1, last_at: lastOrder } };
    const today = evaluateSegments({ rules, memberships, context: () => context, now: NOW, window, changed: 'all' });
    expect(today.changes.map((c) => c.segmentId)).toEqual(['buyers']);
    // Checked at midnight (still 30 whole days), then exactly 31 days after the order.
    expect(today.nextCheckAt).toBe(Date.UTC(2026, 10, 24));
    const midnight = evaluateSegments({ rules, memberships, context: () => context, now: today.nextCheckAt as number, window, changed: new Set() });
    expect(midnight.changes).toEqual([]);
    expect(midnight.nextCheckAt).toBe(lastOrder + 31 * MS_PER_DAY);
    const later = evaluateSegments({ rules, memberships, context: () => context, now: midnight.nextCheckAt as number, window, changed: new Set() });
    expect(later.changes).toEqual([
      expect.objectContaining({ segmentId: 'lapsed', change: 'entered', at: lastOrder + 31 * MS_PER_DAY, values: { 'orders.last_at': lastOrder } }),
    ]);
  });

  it('the next boundary is UTC midnight when nothing is closer', () => {
    expect(nextTimeBoundary(NOW, [])).toBe(Date.UTC(2026, 10, 24));
    expect(nextTimeBoundary(NOW, [NOW - 1000])).toBe(Date.UTC(2026, 10, 24));
    // "days since" an evening timestamp moves at that time of day, before midnight.
    expect(nextTimeBoundary(NOW, [Date.UTC(2026, 10, 2, 20)])).toBe(Date.UTC(2026, 10, 23, 20));
  });
});

describe('explain', () => {
  it('shows which parts held, which did not, and the values used', () => {
    const condition = { and: [{ '>=': [{ var: 'orders.count' }, 2] }, { '==': [{ var: 'lifecycle.stage' }, 'active'] }] };
    const env: MemberEnv = { now: NOW, segments: new Set(), window: () => ({ count: 0, sum: 0 }), noteTime: () => {} };
    const explained = explainLogic(condition, { orders: { count: 3 }, lifecycle: { stage: 'silent' } }, env, MEMBER_OPERATORS);
    expect(explained).toMatchObject({
      path: 'condition.and',
      held: false,
      parts: [
        { path: 'condition.and[0].>=', held: true, parts: [{ variable: 'orders.count', value: 3 }, { value: 2 }] },
        { path: 'condition.and[1].==', held: false, value: false, parts: [{ variable: 'lifecycle.stage', value: 'silent' }, { value: 'active' }] },
      ],
    });
  });
});
