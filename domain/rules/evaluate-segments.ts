import { MS_PER_DAY } from '../../lib/clock.ts';
import type { MemberEnv } from './operators.ts';
import type { CompiledSegmentRule } from './segment-rules.ts';

/** A member's membership of one segment: since when, and the rule version that put it there. */
export interface Membership {
  readonly since: number;
  readonly version: number;
}

export interface SegmentChange {
  readonly segmentId: string;
  readonly ruleVersion: number;
  readonly change: 'entered' | 'exited';
  readonly at: number;
  /** The variables the rule read and their values when it decided. */
  readonly values: Record<string, unknown>;
}

export interface SegmentEvaluation {
  readonly changes: SegmentChange[];
  /** When a time-dependent rule may next give another answer without any event; null when none applies. */
  readonly nextCheckAt: number | null;
}

/** A dotted variable's value in a context (null when absent), as recorded with a decision. */
export function readVariable(context: unknown, name: string): unknown {
  let current = context;
  for (const step of name.split('.')) {
    if (current === null || current === undefined) return null;
    current = (current as Record<string, unknown>)[step];
  }
  return current === undefined ? null : current;
}

/**
 * The next moment a time-dependent answer can change: windows move at UTC midnight and
 * "days since T" at T plus whole days, so the earliest of those after `now`.
 */
export function nextTimeBoundary(now: number, times: Iterable<number>): number {
  let next = (Math.floor(now / MS_PER_DAY) + 1) * MS_PER_DAY;
  for (const time of times) {
    if (time > now) continue;
    const boundary = time + (Math.floor((now - time) / MS_PER_DAY) + 1) * MS_PER_DAY;
    if (boundary < next) next = boundary;
  }
  return next;
}

/**
 * Re-evaluates a member's segments, in dependency order, and updates `memberships` in
 * place. Only rules reading a changed input run, plus every time-dependent rule (time
 * has moved); a membership change marks "segments" changed for the rules after it.
 * `context.segments` is kept equal to the member's current segments as rules run.
 */
export function evaluateSegments(input: {
  readonly rules: readonly CompiledSegmentRule[];
  readonly memberships: Record<string, Membership>;
  /** Builds the member context; called only if some rule has to run. */
  readonly context: () => { segments: string[] } & Record<string, unknown>;
  readonly now: number;
  readonly window: MemberEnv['window'];
  /** Inputs that changed since the last evaluation; "all" evaluates every rule. */
  readonly changed: ReadonlySet<string> | 'all';
  /** Timestamps the member's time-dependent values count from (e.g. the last order, for RFM recency). */
  readonly timeMarks?: readonly number[];
}): SegmentEvaluation {
  const { rules, memberships, now, changed } = input;
  const current = new Set(Object.keys(memberships));
  let context: ({ segments: string[] } & Record<string, unknown>) | undefined;
  const times: number[] = [...(input.timeMarks ?? [])];
  const env: MemberEnv = { now, segments: current, window: input.window, noteTime: (t) => times.push(t) };
  let segmentsChanged = false;
  let anyTimeDependent = false;
  const changes: SegmentChange[] = [];
  const reads = (rule: CompiledSegmentRule) => {
    if (changed === 'all' || rule.timeDependent) return true;
    for (const i of rule.inputs)
      if (i === '*' || changed.has(i) || (i === 'segments' && segmentsChanged) || changed.has(i.split('.')[0] as string)) return true;
    return false;
  };
  for (const rule of rules) {
    anyTimeDependent ||= rule.timeDependent;
    if (!reads(rule)) continue;
    if (!context) {
      context = input.context();
      context.segments = [...current];
    }
    const matches = rule.matches(context, env);
    const member = Object.hasOwn(memberships, rule.id);
    if (matches === member) continue;
    const values = Object.fromEntries(rule.variables.map((name) => [name, readVariable(context, name)]));
    if (matches) {
      memberships[rule.id] = { since: now, version: rule.version };
      current.add(rule.id);
    } else {
      delete memberships[rule.id];
      current.delete(rule.id);
    }
    context.segments = [...current];
    segmentsChanged = true;
    changes.push({ segmentId: rule.id, ruleVersion: rule.version, change: matches ? 'entered' : 'exited', at: now, values });
  }
  return { changes, nextCheckAt: anyTimeDependent ? nextTimeBoundary(now, times) : null };
}
