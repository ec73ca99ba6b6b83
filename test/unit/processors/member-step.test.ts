import { describe, expect, it } from 'vitest';
import { DEFAULT_COUNTERS, DEFAULT_WINDOWS_DAYS } from '../../../domain/member/counters.ts';
import { DEFAULT_LIFECYCLE } from '../../../domain/member/lifecycle.ts';
import { emptyMemberState } from '../../../domain/member/member-state.ts';
import { DEFAULT_RFM } from '../../../domain/member/rfm.ts';
import { noOutputs, stepMember, type WorkingMember } from '../../../domain/member/step.ts';
import type { RuleSettings } from '../../../domain/member/triggers.ts';
import { NO_RULES } from '../../../domain/rules/rule-set.ts';
import { MS_PER_DAY } from '../../../lib/clock.ts';
import type { EventRecord } from '../../../schemas/records.ts';
import { testEvent } from '../../harness/test-event.ts';

const settings: RuleSettings = {
  state: { counters: DEFAULT_COUNTERS, longestWindowDays: 365, lifecycle: DEFAULT_LIFECYCLE },
  windowsDays: DEFAULT_WINDOWS_DAYS,
  rfm: DEFAULT_RFM,
  triggers: { dailyCap: 3, defaultTimeZone: 'UTC' },
};
const context = { rules: NO_RULES, settings };
const T = Date.UTC(2026, 2, 1, 10);
let offset = 0;
const member = (id: string): WorkingMember => ({ state: emptyMemberState(id), known: false, outputs: noOutputs() });
const apply = (m: WorkingMember, event: EventRecord) =>
  stepMember(m, { kind: 'event', event, identities: [], refused: [], position: { source: 'events/0', offset: offset++ }, merged: false }, context);
const order = (at: number, id: string) =>
  testEvent(id, at, { userId: 'u1', event: 'Order Completed', properties: JSON.stringify({ order_id: id, total: 10 }) });
const transitions = (m: WorkingMember) => m.outputs.transitions.map((t) => `${t.fromStage ?? '-'}->${t.toStage} ${new Date(t.at).toISOString()} ${t.reason}`);

describe('the member step', () => {
  it('fires the checks that fell due before a merge at their own times, whether or not a timer fired them first', () => {
    const viaMerge = member('m1');
    const viaTimer = member('m1');
    for (const m of [viaMerge, viaTimer]) {
      apply(m, order(T, 'o1'));
      apply(m, order(T + MS_PER_DAY, 'o2'));
    }
    // The timer reached day 31 in one run; in the other the merge on day 40 came first.
    stepMember(viaTimer, { kind: 'clock', until: T + 40 * MS_PER_DAY }, context);
    const anonymous = member('a1');
    apply(anonymous, testEvent('v1', T + 39 * MS_PER_DAY, { anonymousId: 'anon-1', type: 'page' }));
    for (const m of [viaMerge, viaTimer]) {
      const source = member('a1');
      source.state.firstSeenAt = anonymous.state.firstSeenAt;
      stepMember(m, { kind: 'absorb', source, at: T + 40 * MS_PER_DAY, causeEventId: 'login' }, context);
    }
    expect(transitions(viaMerge)).toEqual(transitions(viaTimer));
    expect(transitions(viaMerge)).toEqual([
      '-->new 2026-03-01T10:00:00.000Z first_order',
      'new->active 2026-03-02T10:00:00.000Z orders_30d_at_least_2',
      'active->silent 2026-04-01T10:00:00.001Z no_order_30d',
    ]);
  });
});
