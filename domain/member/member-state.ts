import { createHash } from 'node:crypto';
import { parseJsonObject } from '../../lib/json.ts';
import type { EventRecord, LifecycleStage, LifecycleTransitionRecord } from '../../schemas/records.ts';
import type { DayAggregate } from '../rules/computed-traits.ts';
import type { Membership } from '../rules/evaluate-segments.ts';
import { emptyTriggerState, type TriggerMemberState } from '../rules/trigger-controls.ts';
import { type CounterSpec, counterAmount } from './counters.ts';
import { type LifecycleConfig, lifecycleStageAt, nextLifecycleCheckAt, trimRecentOrders } from './lifecycle.ts';
import { orderAmount } from './order-amount.ts';
import { addToBuckets, type DayBuckets, pruneBuckets, roundMoney, storedBuckets } from './windows.ts';

/** Everything the engine keeps about one member, stored as one JSON value in Redis. */
export interface MemberState {
  /** Increases with every write; the store refuses a write made from an older read. */
  version: number;
  memberId: string;
  traits: Record<string, unknown>;
  firstSeenAt: number | null;
  lastSeenAt: number | null;
  counters: Record<string, DayBuckets>;
  orders: { count: number; spend: number; refunds: number; refunded: number; firstAt: number | null; lastAt: number | null; recent: number[] };
  /** Paid amount per day: orders add (count 1), refunds subtract (count 0). F and M of RFM come from it. */
  paid: DayBuckets;
  lifecycle: { stage: LifecycleStage; since: number; evaluatedAt: number } | null;
  /** When the lifecycle should be evaluated again without an event. */
  nextCheckAt: number | null;
  /** Last applied offset per source "topic/partition": what is at or below it was applied already. */
  applied: Record<string, number>;
  /** Identities ("kind:hash") that point at this member. */
  identities: string[];
  /** Members folded into this one (each exactly once). */
  mergedFrom: string[];
  /** Segments the member is in, by segment rule id. */
  segments: Record<string, Membership>;
  /** When time-dependent segment rules may next change their answer without an event. */
  segmentsCheckAt: number | null;
  /** Trigger fire times (cooldowns, caps) and trigger work waiting for its time. */
  triggers: TriggerMemberState;
  /** Coupons received and not redeemed: coupon id -> when it expires (null: never). */
  coupons: Record<string, number | null>;
  /** Computed traits: trait id -> day number -> that day's aggregate. */
  computed: Record<string, Record<string, DayAggregate>>;
  /**
   * The rule-set revision the member was last evaluated under: under a newer one its next
   * event evaluates every segment, and segment backfills leave members already evaluated
   * under the current one alone (so when a backfill reaches a member does not matter).
   */
  rulesRevision: number;
  /** The latest time anything about the member was decided at (events, checks, merges, re-evaluations): later inputs are decided no earlier. */
  decidedAt: number | null;
}

/** When the member's timer should fire: the earlier of its lifecycle and segment checks. */
export function nextDueAt(state: MemberState): number | null {
  let due: number | null = null;
  for (const at of [state.nextCheckAt, state.segmentsCheckAt, ...state.triggers.pending.map((p) => p.dueAt)])
    if (at !== null && (due === null || at < due)) due = at;
  return due;
}

export interface StateConfig {
  readonly counters: readonly CounterSpec[];
  readonly longestWindowDays: number;
  readonly lifecycle: LifecycleConfig;
}

export function emptyMemberState(memberId: string): MemberState {
  return {
    version: 0,
    memberId,
    traits: {},
    firstSeenAt: null,
    lastSeenAt: null,
    counters: {},
    orders: { count: 0, spend: 0, refunds: 0, refunded: 0, firstAt: null, lastAt: null, recent: [] },
    paid: [],
    lifecycle: null,
    nextCheckAt: null,
    applied: {},
    identities: [],
    mergedFrom: [],
    segments: {},
    segmentsCheckAt: null,
    triggers: emptyTriggerState(),
    coupons: {},
    computed: {},
    rulesRevision: 0,
    decidedAt: null,
  };
}

/** A member as read from storage, in the shape of today (members stored by earlier versions lack newer parts). */
export function storedMemberState(state: MemberState): MemberState {
  // Stored before segments, triggers, coupons and computed traits existed.
  state.segments ??= {};
  state.segmentsCheckAt ??= null;
  state.triggers ??= emptyTriggerState();
  state.coupons ??= {};
  state.computed ??= {};
  state.rulesRevision ??= 0;
  state.decidedAt ??= state.lifecycle?.evaluatedAt ?? null;
  // Day buckets stored in their earlier form (objects keyed by day).
  for (const name in state.counters) state.counters[name] = storedBuckets(state.counters[name]);
  state.paid = storedBuckets(state.paid);
  return state;
}

export function lifecycleTransitionId(memberId: string, from: LifecycleStage | null, to: LifecycleStage, at: number): string {
  return createHash('sha256')
    .update(`lifecycle|${memberId}|${from ?? ''}|${to}|${at}`)
    .digest('hex')
    .slice(0, 32);
}

/** Re-evaluates the lifecycle at `at`; returns the transition when the stage changed. */
function evaluateLifecycle(state: MemberState, at: number, causeEventId: string | null, config: StateConfig): LifecycleTransitionRecord | null {
  const history = { firstOrderAt: state.orders.firstAt, recentOrders: state.orders.recent };
  const previous = state.lifecycle?.stage ?? null;
  const decision = lifecycleStageAt(history, previous, at, config.lifecycle);
  state.nextCheckAt = nextLifecycleCheckAt(history, at, config.lifecycle);
  if (previous === decision.stage && state.lifecycle) {
    state.lifecycle.evaluatedAt = at;
    return null;
  }
  state.lifecycle = { stage: decision.stage, since: at, evaluatedAt: at };
  return {
    id: lifecycleTransitionId(state.memberId, previous, decision.stage, at),
    memberId: state.memberId,
    fromStage: previous,
    toStage: decision.stage,
    at,
    causeEventId,
    reason: decision.reason,
  };
}

export interface Applied {
  readonly outputs: LifecycleTransitionRecord[];
  /** The rule inputs the event changed ("traits.tier", "counters.orders", "orders", "lifecycle", ...). */
  readonly changed: Set<string>;
}

/** Keeps the member's outstanding coupons: received adds, redeemed (or used on an order) removes. */
const COUPON_EVENTS = new Set(['Coupon Received', 'Coupon Redeemed', 'Order Completed']);

function trackCoupons(state: MemberState, event: EventRecord, properties: () => Record<string, unknown>, changed: Set<string>): void {
  if (event.type !== 'track' || !COUPON_EVENTS.has(event.event ?? '')) return;
  const id = event.event === 'Order Completed' ? properties().coupon : properties().coupon_id;
  if (typeof id !== 'string' || id === '') return;
  if (event.event === 'Coupon Received') {
    const expires = properties().expires_at;
    const expiresAt = typeof expires === 'number' ? expires : typeof expires === 'string' && !Number.isNaN(Date.parse(expires)) ? Date.parse(expires) : null;
    state.coupons[id] = expiresAt;
    changed.add('coupons');
  } else if ((event.event === 'Coupon Redeemed' || event.event === 'Order Completed') && id in state.coupons) {
    delete state.coupons[id];
    changed.add('coupons');
  }
}

/**
 * Applies one event to a member's state, in place, and returns what it caused.
 * Event time decides: a late event lands in its own day bucket, and the lifecycle is
 * evaluated at the later of the event's time and the last evaluation.
 */
export function applyEvent(state: MemberState, event: EventRecord, config: StateConfig): Applied {
  const at = event.timestamp;
  let parsed: Record<string, unknown> | undefined;
  const properties = () => (parsed ??= parseJsonObject(event.properties));
  const changed = new Set<string>(['first_seen_at', 'last_seen_at']);
  state.firstSeenAt = state.firstSeenAt === null ? at : Math.min(state.firstSeenAt, at);
  state.lastSeenAt = state.lastSeenAt === null ? at : Math.max(state.lastSeenAt, at);
  if (event.type === 'identify') {
    const traits = parseJsonObject(event.traits);
    Object.assign(state.traits, traits);
    for (const name of Object.keys(traits)) changed.add(`traits.${name}`);
  }

  for (const spec of config.counters) {
    const amount = counterAmount(spec, event, properties);
    if (amount === undefined) continue;
    state.counters[spec.name] ??= [];
    addToBuckets(state.counters[spec.name] as DayBuckets, at, amount);
    changed.add(`counters.${spec.name}`);
  }

  trackCoupons(state, event, properties, changed);

  const orderTotal = () => orderAmount(properties());
  let ordersChanged = false;
  if (event.type === 'track' && event.event === 'Order Completed') {
    const o = state.orders;
    const total = orderTotal();
    o.count++;
    o.spend = roundMoney(o.spend + total);
    o.firstAt = o.firstAt === null ? at : Math.min(o.firstAt, at);
    o.lastAt = o.lastAt === null ? at : Math.max(o.lastAt, at);
    o.recent.push(at);
    addToBuckets(state.paid, at, total, 1);
    ordersChanged = true;
    changed.add('orders').add('rfm');
  } else if (event.type === 'track' && event.event === 'Order Refunded') {
    const total = orderTotal();
    state.orders.refunds++;
    state.orders.refunded = roundMoney(state.orders.refunded + total);
    addToBuckets(state.paid, at, -total, 0);
    changed.add('orders').add('rfm');
  }

  const now = Math.max(at, state.lifecycle?.evaluatedAt ?? at, state.lastSeenAt ?? at);
  for (const name in state.counters) pruneBuckets(state.counters[name] as DayBuckets, now, config.longestWindowDays);
  pruneBuckets(state.paid, now, config.longestWindowDays);
  state.orders.recent = trimRecentOrders(state.orders.recent, now, config.lifecycle);

  // The first event of a member makes it a prospect; orders may move it on.
  const outputs: LifecycleTransitionRecord[] = [];
  if (ordersChanged || state.lifecycle === null) {
    const transition = evaluateLifecycle(state, Math.max(at, state.lifecycle?.evaluatedAt ?? at), event.messageId, config);
    if (transition) {
      outputs.push(transition);
      changed.add('lifecycle');
    }
  }
  return { outputs, changed };
}

/**
 * Moves a member's lifecycle through every check that fell due up to `now`, with no
 * event: each transition is dated at the moment it became true (e.g. day 31).
 */
export function advanceTime(state: MemberState, now: number, config: StateConfig): Applied {
  const outputs: LifecycleTransitionRecord[] = [];
  while (state.nextCheckAt !== null && state.nextCheckAt <= now) {
    const transition = evaluateLifecycle(state, state.nextCheckAt, null, config);
    if (transition) outputs.push(transition);
  }
  return { outputs, changed: new Set(outputs.length > 0 ? ['lifecycle'] : []) };
}
