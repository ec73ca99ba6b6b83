/**
 * What segment rules cost per event.
 *   ./segstream bench rules [events]
 * 1. Evaluations/s of compiled rules over real member contexts, next to json-logic-js
 *    interpreting the same (standard-operator) rules.
 * 2. Extra processing time per event with 1, 100 and 1,000 active rules: the generated
 *    workload applied to in-memory member state (as the processor's apply step does),
 *    with and without segment evaluation; the difference is what rules add. Redis and
 *    Kafka costs are outside both and the same; the state's extra size is reported.
 */
import jsonLogic from 'json-logic-js';
import { DEFAULT_COUNTERS, DEFAULT_WINDOWS_DAYS } from '../domain/member/counters.ts';
import { DEFAULT_LIFECYCLE } from '../domain/member/lifecycle.ts';
import { applyEvent, emptyMemberState, type MemberState, type StateConfig } from '../domain/member/member-state.ts';
import { DEFAULT_RFM } from '../domain/member/rfm.ts';
import { memberEnv, ruleContext, type SegmentSettings, updateSegments } from '../domain/member/segments.ts';
import type { RuleSet } from '../domain/rules/rule-set.ts';
import { type CompiledSegmentRule, compileSegmentRule, orderByDependencies } from '../domain/rules/segment-rules.ts';
import { toEventRecord } from '../test/workload/event-record.ts';
import { generateWorkload } from '../test/workload/generator.ts';
import { Random } from '../test/workload/random.ts';
import { writeResults } from './results.ts';

const eventCount = Number(process.argv[2] ?? 200_000);
const state: StateConfig = { counters: DEFAULT_COUNTERS, longestWindowDays: 365, lifecycle: DEFAULT_LIFECYCLE };
const settings: SegmentSettings = { state, windowsDays: DEFAULT_WINDOWS_DAYS, rfm: DEFAULT_RFM };
const environment = { counters: DEFAULT_COUNTERS.map((c) => c.name), windowsDays: DEFAULT_WINDOWS_DAYS, computedTraits: new Map() };

/** Rules as operators write them: thresholds on counters, orders, RFM, lifecycle, traits, recency, and other segments. */
function realisticRules(count: number, seed: string, standardOnly: boolean): { id: string; condition: unknown }[] {
  const r = new Random(seed);
  const counter = () => r.pick(DEFAULT_COUNTERS).name;
  const window = () => r.pick(DEFAULT_WINDOWS_DAYS);
  const templates: (() => unknown)[] = [
    () => ({ '>=': [{ var: `counters.${counter()}.${window()}d.count` }, r.int(1, 10)] }),
    () => ({ '>=': [{ var: 'orders.spend' }, r.int(50, 2000)] }),
    () => ({ '==': [{ var: 'rfm.group' }, r.pick(['important-value', 'general-retain', 'important-keep'])] }),
    () => ({ in: [{ var: 'lifecycle.stage' }, ['active', 'new', 'reactivated']] }),
    () => ({ and: [{ '==': [{ var: 'traits.plan' }, r.pick(['basic', 'plus'])] }, { '>': [{ var: 'orders.count' }, r.int(0, 3)] }] }),
    () => ({ or: [{ '>=': [{ var: 'rfm.f' }, r.int(2, 5)] }, { '<=': [{ var: 'rfm.recency_days' }, r.int(7, 60)] }] }),
    () => ({ '!': { var: 'known' } }),
  ];
  if (!standardOnly)
    templates.push(
      () => ({ '>': [{ days_since: { var: 'orders.last_at' } }, r.int(14, 90)] }),
      () => ({ '>=': [{ counter: [counter(), r.int(2, 60)] }, r.int(1, 5)] }),
    );
  return Array.from({ length: count }, (_, i) => ({ id: `rule_${i}`, condition: r.pick(templates)() }));
}

function compileAll(definitions: { id: string; condition: unknown }[]): CompiledSegmentRule[] {
  const ids = new Set(definitions.map((d) => d.id));
  return orderByDependencies(
    definitions.map((d) => {
      const { compiled, problems } = compileSegmentRule({ id: d.id, version: 1, condition: d.condition }, environment, ids);
      if (!compiled) throw new Error(`${d.id}: ${JSON.stringify(problems)}`);
      return compiled;
    }),
  ).ordered;
}

// The workload, decoded once: the same events for every run.
const start = Date.UTC(2026, 0, 1);
const events: { memberKey: string; event: ReturnType<typeof toEventRecord> }[] = [];
for (const e of generateWorkload({ seed: 11, members: Math.ceil(eventCount / 60), days: 60, start })) {
  events.push({ memberKey: e.message.userId ?? e.message.anonymousId ?? '', event: toEventRecord(e.message, e.at + 100) });
  if (events.length >= eventCount) break;
}

/** CPU time per event of applying the workload to fresh in-memory members, with the given rules (none: null). */
function applyWorkload(rules: RuleSet | null): { microsPerEvent: number; changes: number; stateBytes: number } {
  const members = new Map<string, MemberState>();
  let changes = 0;
  const began = process.cpuUsage();
  for (const { memberKey, event } of events) {
    let member = members.get(memberKey);
    if (!member) {
      member = emptyMemberState(`m_${memberKey}`);
      members.set(memberKey, member);
    }
    const applied = applyEvent(member, event, state);
    if (rules)
      changes += updateSegments(
        member,
        event.userId !== null,
        rules,
        Math.max(event.timestamp, member.lifecycle?.evaluatedAt ?? 0),
        applied.changed,
        event.messageId,
        settings,
      ).length;
  }
  const used = process.cpuUsage(began);
  let stateBytes = 0;
  for (const member of members.values()) stateBytes += JSON.stringify(member).length;
  return { microsPerEvent: (used.user + used.system) / events.length, changes, stateBytes: Math.round(stateBytes / members.size) };
}

// 1. Evaluations per second over member contexts taken from the workload.
const sampleMembers = new Map<string, MemberState>();
for (const { memberKey, event } of events.slice(0, 50_000)) {
  const member = sampleMembers.get(memberKey) ?? emptyMemberState(`m_${memberKey}`);
  applyEvent(member, event, state);
  sampleMembers.set(memberKey, member);
}
const at = start + 61 * 86_400_000;
const contexts = [...sampleMembers.values()].slice(0, 500).map((m) => {
  const context = ruleContext(m, true, at, settings);
  // Plain data for json-logic-js (the processor's context computes counter windows lazily).
  return { context: JSON.parse(JSON.stringify(context)) as Record<string, unknown> & { segments: string[] }, env: memberEnv(m, at) };
});
const comparable = realisticRules(100, 'eval', true);
const compiledComparable = compileAll(comparable);
const measure = (label: string, run: () => void, evaluations: number) => {
  run(); // warm up
  const t = performance.now();
  run();
  const perSecond = evaluations / ((performance.now() - t) / 1000);
  console.log(`${label}: ${Math.round(perSecond).toLocaleString('en-US')} evaluations/s`);
  return Math.round(perSecond);
};
const rounds = 20;
const compiledPerSecond = measure(
  'compiled (100 rules x 500 members)',
  () => {
    for (let i = 0; i < rounds; i++) for (const { context, env } of contexts) for (const rule of compiledComparable) rule.matches(context, env);
  },
  rounds * contexts.length * compiledComparable.length,
);
const interpretedPerSecond = measure(
  'json-logic-js interpreted (same rules)',
  () => {
    for (const { context } of contexts) for (const rule of comparable) jsonLogic.apply(rule.condition as jsonLogic.RulesLogic, context);
  },
  contexts.length * comparable.length,
);

// 2. Extra time per event.
const baseline = applyWorkload(null);
console.log(`\n${events.length.toLocaleString('en-US')} events applied to in-memory members without rules: ${baseline.microsPerEvent.toFixed(2)} µs/event`);
const perRuleCount: Record<string, unknown> = {};
for (const count of [1, 100, 1_000]) {
  const rules: RuleSet = { revision: 1, segments: compileAll(realisticRules(count, `bench-${count}`, false)), triggers: [], computed: [] };
  const timeDependent = rules.segments.filter((r) => r.timeDependent).length;
  const withRules = applyWorkload(rules);
  const extra = withRules.microsPerEvent - baseline.microsPerEvent;
  console.log(
    `${count.toLocaleString('en-US')} active rules (${timeDependent} time-dependent): +${extra.toFixed(2)} µs/event = +${(extra / 1000).toFixed(4)} ms; ${withRules.changes.toLocaleString('en-US')} segment changes; state +${withRules.stateBytes - baseline.stateBytes} bytes/member`,
  );
  perRuleCount[count] = {
    timeDependentRules: timeDependent,
    extraMicrosPerEvent: Math.round(extra * 100) / 100,
    segmentChanges: withRules.changes,
    extraStateBytesPerMember: withRules.stateBytes - baseline.stateBytes,
  };
}
console.log(
  `written to ${writeResults('rules', { events: events.length, evaluationsPerSecond: { compiled: compiledPerSecond, jsonLogicJs: interpretedPerSecond }, baselineMicrosPerEvent: Math.round(baseline.microsPerEvent * 100) / 100, perRuleCount })}`,
);
