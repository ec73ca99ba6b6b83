import type { Redis } from 'ioredis';
import { nextDueAt } from '../../domain/member/member-state.ts';
import { stepMember } from '../../domain/member/step.ts';
import type { RuleSettings } from '../../domain/member/triggers.ts';
import type { RuleSet } from '../../domain/rules/rule-set.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Keys } from '../store/keys.ts';
import type { OutboxEntry } from '../store/member-store.ts';
import type { MemberDriver } from './member-driver.ts';

// Removes a member from a timer shard only if its due time has not moved past `until` meanwhile.
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
 * Fires lifecycle, segment and trigger checks that fell due, for members that sent no
 * event since: "no order for 30 days" turns a member silent on day 31, and a segment of
 * lapsed buyers gains it then. Due times live in sorted sets (one per shard) in Redis, so
 * they survive restarts; each shard is swept by the processor that owns the Kafka
 * partition of the same number, so replicas do not sweep the same members. Members that
 * do send events have their checks fired by the member step itself, before the event.
 */
export class TimerSweeper {
  readonly #redis: Redis;
  readonly #keys: Keys;
  readonly #driver: MemberDriver;
  readonly #clock: Clock;
  readonly #settings: RuleSettings;
  readonly #rules: () => RuleSet;

  constructor(deps: { redis: Redis; keys: Keys; driver: MemberDriver; clock: Clock; settings: RuleSettings; rules: () => RuleSet }) {
    this.#redis = deps.redis;
    this.#keys = deps.keys;
    this.#driver = deps.driver;
    this.#clock = deps.clock;
    this.#settings = deps.settings;
    this.#rules = deps.rules;
    this.#redis.defineCommand('segstreamRemoveIfDue', { numberOfKeys: 1, lua: REMOVE_IF_DUE });
  }

  /** Fires, in one shard, every check due at or before `until` (event time: see docs/processors.md). */
  async sweep(shard: number, until: number, limit = 500): Promise<SweepResult> {
    const key = this.#keys.timers(shard);
    const due = await this.#redis.zrangebyscore(key, '-inf', until, 'LIMIT', 0, limit);
    if (due.length === 0) return { due: 0, fired: 0, outboxes: new Map() };
    const context = { rules: this.#rules(), settings: this.#settings };
    let merged: string[] = [];
    const done = await this.#driver.run(
      {
        reads: async () => due.map((memberId) => ({ memberId, messageIds: [] })),
        step: (members) => {
          merged = [];
          for (const [memberId, loaded] of members.read) {
            // Its orders live on in the member it merged into.
            if (loaded.mergedInto) merged.push(memberId);
            else stepMember(members.get(memberId), { kind: 'clock', until }, context);
          }
        },
      },
      this.#clock.now(),
    );
    const pipeline = this.#redis.pipeline();
    let fired = 0;
    for (const member of done.saved) {
      fired += done.outboxes.get(member.memberId)?.length ?? 0;
      const dueAt = nextDueAt(member.state);
      if (dueAt !== null) pipeline.zadd(key, dueAt, member.memberId);
      else (pipeline as unknown as { segstreamRemoveIfDue: (...args: string[]) => unknown }).segstreamRemoveIfDue(key, member.memberId, String(until));
    }
    for (const memberId of merged) pipeline.zrem(key, memberId);
    await pipeline.exec();
    return { due: due.length, fired, outboxes: done.outboxes };
  }
}
