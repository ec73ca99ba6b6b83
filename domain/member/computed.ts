import { MS_PER_DAY } from '../../lib/clock.ts';
import type { EventRecord } from '../../schemas/records.ts';
import { addToDay, aggregateFor, type DayAggregate } from '../rules/computed-traits.ts';
import type { RuleSet } from '../rules/rule-set.ts';
import { eventVariables } from './event-view.ts';
import type { MemberState } from './member-state.ts';
import { memberEnv } from './segments.ts';

const NOTHING_CHANGED: ReadonlySet<string> = new Set();

/**
 * Adds an event to the member's computed traits it counts for (event time decides the
 * day), drops days their windows no longer reach, and returns the changed inputs.
 */
export function applyComputedTraits(state: MemberState, event: EventRecord, rules: RuleSet, at: number): ReadonlySet<string> {
  if (event.type !== 'track' || rules.computed.length === 0) return NOTHING_CHANGED;
  const changed = new Set<string>();
  let view: Record<string, unknown> | undefined;
  for (const trait of rules.computed) {
    if (trait.spec.event !== event.event) continue;
    view ??= eventVariables(event);
    if (!trait.counts(view, memberEnv(state, at))) continue;
    state.computed[trait.id] ??= {};
    const days = state.computed[trait.id] as Record<string, DayAggregate>;
    const day = String(Math.floor(event.timestamp / MS_PER_DAY));
    const value = trait.spec.property === undefined ? undefined : (view.properties as Record<string, unknown>)[trait.spec.property];
    addToDay(aggregateFor(days, day), event.timestamp, value);
    const oldest = Math.floor(at / MS_PER_DAY) - trait.spec.windowDays + 1;
    for (const key of Object.keys(days)) if (Number(key) < oldest) delete days[key];
    changed.add(`computed.${trait.id}`);
  }
  return changed;
}
