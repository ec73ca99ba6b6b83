import type { Redis } from 'ioredis';
import { advanceTime, nextDueAt } from '../../domain/member/member-state.ts';
import { updateSegments } from '../../domain/member/segments.ts';
import { applyTriggers, dueTriggers, type RuleSettings } from '../../domain/member/triggers.ts';
import type { RuleSet } from '../../domain/rules/rule-set.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Keys } from '../store/keys.ts';
import { type LoadedMember, type MemberStore, type MemberWrite, type OutboxEntry, outboxEntries } from '../store/member-store.ts';

// Removes a member from a timer shard only if its due time has not moved past `now` meanwhile.
const REMOVE_IF_DUE = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
`;

export interface SweepResult {
  readonly due: number;
  readonly fired: number;
  readonly outboxes: Map<string, readonly OutboxEntry[]>;
}

/**
 * Fires lifecycle and segment checks that fell due, with no event: "no order for 30
 * days" turns a member silent on day 31, and a segment of lapsed buyers gains it then. Due times live in sorted sets (one per shard) in Redis, so
 * they survive restarts; each shard is swept by the processor that owns the Kafka
 * partition of the same number, so replicas do not sweep the same members.
 */
export class TimerSweeper {
  readonly #redis: Redis;
  readonly #keys: Keys;
  readonly #store: MemberStore;
  readonly #clock: Clock;
  readonly #segments: RuleSettings;
  readonly #rules: () => RuleSet;
  readonly #seenHorizonMs: number;

  constructor(deps: { redis: Redis; keys: Keys; store: MemberStore; clock: Clock; segments: RuleSettings; rules: () => RuleSet; seenHorizonMs: number }) {
    this.#redis = deps.redis;
    this.#keys = deps.keys;
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#segments = deps.segments;
    this.#rules = deps.rules;
    this.#seenHorizonMs = deps.seenHorizonMs;
    this.#redis.defineCommand('segstreamRemoveIfDue', { numberOfKeys: 1, lua: REMOVE_IF_DUE });
  }

  async sweep(shard: number, limit = 500): Promise<SweepResult> {
    const now = this.#clock.now();
    const key = this.#keys.timers(shard);
    const due = await this.#redis.zrangebyscore(key, '-inf', now, 'LIMIT', 0, limit);
    if (due.length === 0) return { due: 0, fired: 0, outboxes: new Map() };
    const loaded = await this.#store.load(due.map((memberId) => ({ memberId, messageIds: [] })));
    const writes: MemberWrite[] = [];
    const rules = this.#rules();
    for (const memberId of due) {
      const member = loaded.get(memberId) as LoadedMember;
      if (member.mergedInto) continue; // its orders live on in the member it merged into
      const state = member.state;
      const outputs = [];
      const segmentChanges = [];
      const triggerFirings = [];
      // Each check at the moment it fell due, in order, so records carry the time they became true.
      for (let checkAt = nextDueAt(state); checkAt !== null && checkAt <= now; checkAt = nextDueAt(state)) {
        const lifecycle = advanceTime(state, checkAt, this.#segments.state);
        outputs.push(...lifecycle.outputs);
        const segmentsDue = state.segmentsCheckAt !== null && state.segmentsCheckAt <= checkAt;
        const changes =
          segmentsDue || lifecycle.changed.size > 0 || rules.segments.length === 0
            ? updateSegments(state, member.known, rules, checkAt, lifecycle.changed, null, this.#segments)
            : [];
        segmentChanges.push(...changes);
        triggerFirings.push(
          ...dueTriggers(state, member.known, rules, checkAt, this.#segments),
          ...applyTriggers(
            state,
            member.known,
            rules,
            { event: null, segmentChanges: changes, transitions: lifecycle.outputs, at: checkAt, changedTraits: new Set() },
            this.#segments,
          ),
        );
      }
      writes.push({
        memberId,
        expectedVersion: member.version,
        state,
        known: member.known,
        outbox: outboxEntries(outputs, segmentChanges, triggerFirings),
        seen: [],
        seenHorizon: now - this.#seenHorizonMs,
        seenKeep: Number.MAX_SAFE_INTEGER,
      });
    }
    // A member that changed meanwhile stays due and is swept again next time.
    const conflicts = new Set(await this.#store.save(writes));
    const outboxes = new Map<string, readonly OutboxEntry[]>();
    const pipeline = this.#redis.pipeline();
    let fired = 0;
    for (const write of writes) {
      if (conflicts.has(write.memberId)) continue;
      outboxes.set(write.memberId, [...(loaded.get(write.memberId) as LoadedMember).outbox, ...write.outbox]);
      fired += write.outbox.length;
      const dueAt = nextDueAt(write.state);
      if (dueAt !== null) pipeline.zadd(key, dueAt, write.memberId);
      else (pipeline as unknown as { segstreamRemoveIfDue: (...args: string[]) => unknown }).segstreamRemoveIfDue(key, write.memberId, String(now));
    }
    for (const memberId of due) if ((loaded.get(memberId) as LoadedMember).mergedInto) pipeline.zrem(key, memberId);
    await pipeline.exec();
    return { due: due.length, fired, outboxes };
  }
}
