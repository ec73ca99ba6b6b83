import { createHash } from 'node:crypto';
import { localDate, quietHoursAt } from '../../lib/local-time.ts';
import type { TriggerRule } from './trigger-rules.ts';

const MINUTE = 60_000;
const DAY = 86_400_000;

/**
 * A trigger waiting for its time: the end of a sequence's wait, a deferral past quiet
 * hours, a calendar date, or a marketing firing of an anonymous member waiting for an
 * opt-out that may be on its way (consent: see fireOrWaitForConsent).
 */
export interface PendingTrigger {
  readonly ruleId: string;
  readonly version: number;
  readonly kind: 'sequence' | 'deferred' | 'calendar' | 'consent';
  /** Sequences: the keying property's value ('' when unkeyed); otherwise the firing's key. */
  readonly key: string;
  readonly dueAt: number;
  readonly causeEventId: string | null;
  /** Consent waits: the rule's variables when its condition held (JSON), sent with the firing. */
  readonly values?: string;
}

/** What a member's triggers remember: fire times for cooldowns and caps, and what waits. */
export interface TriggerMemberState {
  /** Per rule, when it fired (kept as long as its cooldown or cap window needs). */
  fires: Record<string, number[]>;
  /** Fires of every rule in the last two days, for the daily cap in the member's time zone. */
  recentFires: number[];
  pending: PendingTrigger[];
}

export function emptyTriggerState(): TriggerMemberState {
  return { fires: {}, recentFires: [], pending: [] };
}

/**
 * Folds an anonymous member's trigger state into the member it turned out to be: a wait
 * started while anonymous (a cart added before signing up) goes on, and its fires count
 * towards cooldowns and caps. Calendar dates are the target's own (its birthday, its zone).
 */
export function mergeTriggerState(target: TriggerMemberState, source: TriggerMemberState): void {
  for (const [rule, times] of Object.entries(source.fires)) target.fires[rule] = [...new Set([...(target.fires[rule] ?? []), ...times])].sort((a, b) => a - b);
  target.recentFires = [...new Set([...target.recentFires, ...source.recentFires])].sort((a, b) => a - b);
  // One wait per rule and key, but consent waits per cause (two marketing events are two firings).
  const waiting = (p: PendingTrigger) => `${p.ruleId}|${p.kind}|${p.key}|${p.kind === 'consent' ? p.causeEventId : ''}`;
  const present = new Set(target.pending.map(waiting));
  for (const pending of source.pending) if (pending.kind !== 'calendar' && !present.has(waiting(pending))) target.pending.push(pending);
}

export interface FiringContext {
  readonly memberId: string;
  readonly at: number;
  readonly timeZone: string;
  /** Opted out of marketing, or of the rule's channel. */
  readonly optedOut: boolean;
  /** Refused automated personalised marketing (PIPL art. 24). */
  readonly refusedPersonalization?: boolean;
  readonly outstandingCoupons: number;
  /** Most fires per member per local day, across all trigger rules. */
  readonly dailyCap: number;
  /** A deferred firing coming due: quiet hours were already waited out. */
  readonly afterQuietHours?: boolean;
}

export type FiringDecision =
  | { readonly outcome: 'fired'; readonly reason: null }
  | { readonly outcome: 'suppressed' | 'held_out'; readonly reason: string }
  | { readonly outcome: 'deferred'; readonly reason: 'quiet_hours'; readonly until: number };

/** A stable share of members per rule, so the same members stay in the control group. */
export function inHoldout(ruleId: string, memberId: string, percent: number): boolean {
  if (percent <= 0) return false;
  const bucket = Number.parseInt(createHash('sha256').update(`holdout|${ruleId}|${memberId}`).digest('hex').slice(0, 8), 16) / 0x1_0000_0000;
  return bucket * 100 < percent;
}

/**
 * Applies a rule's anti-harassment controls to a firing, in this order: opt-out (of
 * marketing or of the rule's channel), refused personalisation, holdout, quiet hours
 * (defer or drop), cooldown, the rule's cap, outstanding coupons,
 * the daily cap across rules. A firing that goes out is recorded in `state`.
 */
export function decideFiring(rule: TriggerRule, state: TriggerMemberState, ctx: FiringContext): FiringDecision {
  const c = rule.controls;
  const at = ctx.at;
  if ((c.marketing ?? true) && ctx.optedOut) return { outcome: 'suppressed', reason: 'opted_out' };
  if ((c.marketing ?? true) && ctx.refusedPersonalization) return { outcome: 'suppressed', reason: 'personalization_refused' };
  if (inHoldout(rule.id, ctx.memberId, c.holdoutPercent ?? 0)) return { outcome: 'held_out', reason: 'holdout' };
  if (c.quietHours && !ctx.afterQuietHours) {
    const quiet = quietHoursAt(at, ctx.timeZone, c.quietHours.start, c.quietHours.end);
    if (quiet.quiet)
      return c.quietHours.mode === 'defer'
        ? { outcome: 'deferred', reason: 'quiet_hours', until: quiet.endsAt }
        : { outcome: 'suppressed', reason: 'quiet_hours' };
  }
  const fires = state.fires[rule.id] ?? [];
  const cooldown = (c.cooldownMinutes ?? 0) * MINUTE;
  if (cooldown > 0 && fires.some((t) => t > at - cooldown && t <= at)) return { outcome: 'suppressed', reason: 'cooldown' };
  const cap = c.maxFires;
  if (cap && fires.filter((t) => t > at - cap.windowDays * DAY && t <= at).length >= cap.count) return { outcome: 'suppressed', reason: 'rule_cap' };
  if (c.maxOutstandingCoupons !== undefined && ctx.outstandingCoupons >= c.maxOutstandingCoupons)
    return { outcome: 'suppressed', reason: 'outstanding_coupons' };
  const today = localDate(at, ctx.timeZone);
  if (state.recentFires.filter((t) => t <= at && localDate(t, ctx.timeZone) === today).length >= ctx.dailyCap)
    return { outcome: 'suppressed', reason: 'daily_cap' };

  const keepFor = Math.max(cooldown, (cap?.windowDays ?? 0) * DAY);
  state.fires[rule.id] = [...fires.filter((t) => t > at - keepFor), at];
  state.recentFires = [...state.recentFires.filter((t) => t > at - 2 * DAY), at];
  return { outcome: 'fired', reason: null };
}
