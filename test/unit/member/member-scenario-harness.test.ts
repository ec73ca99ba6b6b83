import { describe, expect, it } from 'vitest';
import type { RuleSet } from '../../../domain/rules/rule-set.ts';
import { MS_PER_DAY } from '../../../lib/clock.ts';
import { compileActiveRules } from '../../../lib/rule-store/active-rules.ts';
import type { StoredRule } from '../../../lib/rule-store/rule-store.ts';
import { compileScenarioRules, DEFAULT_RULE_ENVIRONMENT, MemberScenario, type ScenarioRule } from '../../harness/member-scenario.ts';

// The scenario harness itself: it must compile rules as processors do, and report each step's outputs only.

const RULES: ScenarioRule[] = [
  { id: 'lapsed', condition: { and: [{ in_segment: 'buyers' }, { '>': [{ days_since: { var: 'orders.last_at' } }, 30] }] } },
  { id: 'buyers', version: 3, condition: { '>=': [{ var: 'orders.count' }, 1] } },
  { id: 'shoe_fans', condition: { '>=': [{ var: 'computed.shoe_views_7d' }, 2] } },
  { id: 'shoe_views_7d', kind: 'computed_trait', computed: { event: 'Product Viewed', aggregate: 'count', windowDays: 7 } },
  { id: 'win_back', kind: 'trigger', on: { segment: 'lapsed', change: 'entered' }, controls: { cooldownMinutes: 60 } },
  { id: 'abandoned', kind: 'trigger', on: { sequence: { start: 'Product Added', cancel: 'Order Completed', withinMinutes: 30 } }, businessLine: 'shop' },
];

/** What of a rule set decides evaluation: order, versions, inputs, time dependence, trigger definitions. */
function shape(ruleSet: RuleSet) {
  return {
    revision: ruleSet.revision,
    segments: ruleSet.segments.map((r) => ({ id: r.id, version: r.version, inputs: [...r.inputs], timeDependent: r.timeDependent, dependsOn: r.dependsOn })),
    triggers: ruleSet.triggers.map((t) => ({ id: t.id, version: t.version, rule: t.rule, variables: t.variables })),
    computed: ruleSet.computed.map((c) => ({ id: c.id, version: c.version, spec: c.spec })),
  };
}

describe('the member scenario harness', () => {
  it('compiles rules as a processor compiles the active rules of its store', () => {
    const stored: StoredRule[] = RULES.map((rule) => ({
      name: rule.id,
      description: '',
      condition: true,
      active: true,
      updatedAt: 0,
      updatedBy: 'test',
      ...rule,
      kind: rule.kind ?? 'segment',
      version: rule.version ?? 1,
    }));
    const listed = [...stored].sort((a, b) => a.id.localeCompare(b.id));
    const { ruleSet, rejected } = compileActiveRules(7, listed, DEFAULT_RULE_ENVIRONMENT);
    expect(rejected).toEqual([]);
    expect(shape(compileScenarioRules(7, RULES))).toEqual(shape(ruleSet));
    expect(ruleSet.segments.map((r) => r.id)).toEqual(['buyers', 'lapsed', 'shoe_fans']);
  });

  it('refuses rules that would not compile, instead of leaving them out', () => {
    expect(() => compileScenarioRules(1, [{ id: 'typo', condition: { '>=': [{ var: 'orders.cuont' }, 1] } }])).toThrow(/typo: condition/);
    expect(() => compileScenarioRules(1, [{ id: 'w', kind: 'trigger', on: { segment: 'missing', change: 'entered' } }])).toThrow(/unknown segment/);
  });

  it('reports the outputs of the last step only, and keeps every output in the member', () => {
    const s = new MemberScenario({ start: '2026-03-01T09:00:00Z' });
    s.send({ userId: 'u1', event: 'Order Completed', properties: '{"order_id":"o1","total":10}' });
    expect(s.transitions.map((t) => t.toStage)).toEqual(['new']);
    s.send({ userId: 'u1', type: 'page' });
    expect(s.outputs).toEqual({ transitions: [], segmentChanges: [], triggerFirings: [], identityChanges: [] });
    s.advance(31 * MS_PER_DAY);
    expect(s.transitions.map((t) => t.toStage)).toEqual(['silent']);
    expect(s.member().outputs.transitions.map((t) => t.toStage)).toEqual(['new', 'silent']);
  });

  it('gives events increasing offsets and message ids, and a new rule revision makes the next event evaluate every segment', () => {
    const s = new MemberScenario({ start: '2026-03-01T09:00:00Z', rules: [{ id: 'everyone', condition: true }] });
    const first = s.event();
    s.send(first, { userId: 'u1', type: 'page' });
    expect(first.messageId).toBe('msg-1');
    expect(s.state().applied).toEqual({ 'segstream.events.v1/0': 1 });
    expect(s.state().rulesRevision).toBe(1);
    s.rules([
      { id: 'everyone', condition: true },
      { id: 'known', condition: { var: 'known' } },
    ]);
    expect(s.ruleSet.revision).toBe(2);
    // A page view changes nothing "known" reads; the new revision evaluates it anyway.
    s.send({ userId: 'u1', type: 'page' });
    expect(s.segmentChanges.map((c) => `${c.change} ${c.segmentId}`)).toEqual(['entered known']);
  });

  it('refuses steps a real pipeline could not take: time going back, events to a member that was merged away', () => {
    const s = new MemberScenario({ start: '2026-03-01T09:00:00Z' });
    s.sendTo('guest', { anonymousId: 'g' });
    s.merge('guest');
    expect(() => s.sendTo('guest', { anonymousId: 'g' })).toThrow(/merged into "member-1"/);
    expect(() => s.advanceTo('2026-02-01T00:00:00Z')).toThrow(RangeError);
  });
});
