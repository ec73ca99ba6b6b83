import { MS_PER_DAY } from '../../lib/clock.ts';
import type { CustomOperator, EvalEnv } from './json-logic.ts';

/**
 * What member rules see besides the member context: the evaluation time, current
 * memberships, counters over any number of days, and a note of every time a result
 * depended on, so the caller knows when the rule may next change without an event.
 */
export interface MemberEnv extends EvalEnv {
  readonly now: number;
  readonly segments: ReadonlySet<string>;
  window(counter: string, days: number): { readonly count: number; readonly sum: number };
  /** Called with each timestamp a `days_since` read: its result changes a whole day after it. */
  noteTime(timestamp: number): void;
}

/** Whole days from a timestamp to the evaluation time (0 on the same 24 hours), as RFM's recency counts them. */
export function daysSince(timestamp: number, now: number): number {
  return Math.floor((now - timestamp) / MS_PER_DAY);
}

const member = (env: EvalEnv) => env as MemberEnv;

/** The operators rules have besides json-logic's own; docs/rules.md documents each. */
export const MEMBER_OPERATORS: Readonly<Record<string, CustomOperator>> = {
  days_since: {
    minArgs: 1,
    maxArgs: 1,
    usage: '{"days_since": <timestamp>}: whole days since then, null when there is no timestamp',
    apply: ([timestamp], env) => {
      if (typeof timestamp !== 'number') return null;
      member(env).noteTime(timestamp);
      return daysSince(timestamp, env.now);
    },
  },
  now: {
    minArgs: 0,
    maxArgs: 0,
    usage: '{"now": []}: the evaluation time in epoch milliseconds',
    apply: (_, env) => env.now,
  },
  in_segment: {
    minArgs: 1,
    maxArgs: 1,
    usage: '{"in_segment": "<segment rule id>"}: whether the member is in that segment',
    apply: ([segment], env) => member(env).segments.has(String(segment)),
  },
  counter: {
    minArgs: 2,
    maxArgs: 2,
    usage: '{"counter": ["<counter>", <days>]}: how many counted events in the last <days> days',
    apply: ([name, days], env) => member(env).window(String(name), Number(days)).count,
  },
  counter_sum: {
    minArgs: 2,
    maxArgs: 2,
    usage: '{"counter_sum": ["<counter>", <days>]}: the summed property of the counted events in the last <days> days',
    apply: ([name, days], env) => member(env).window(String(name), Number(days)).sum,
  },
};

/** Operators whose result moves with time alone. */
export const TIME_OPERATORS: ReadonlySet<string> = new Set(['days_since', 'now', 'counter', 'counter_sum']);
