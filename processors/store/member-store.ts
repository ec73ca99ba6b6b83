import type { Redis } from 'ioredis';
import type { LifecycleTransitionRecord } from '../../schemas/records.ts';
import { emptyMemberState, type MemberState } from '../logic/member-state.ts';
import type { Keys } from './keys.ts';

/** An output waiting in a member's outbox: the topic it goes to and the record. */
export interface OutboxEntry {
  readonly topic: 'lifecycle' | 'segmentChanges' | 'triggers';
  readonly record: Record<string, unknown>;
}

export function lifecycleEntries(records: readonly LifecycleTransitionRecord[]): OutboxEntry[] {
  return records.map((record) => ({ topic: 'lifecycle', record: { ...record } }));
}

/** The lifecycle transitions held in members' outboxes (for history and tests). */
export function lifecycleRecordsIn(outboxes: ReadonlyMap<string, readonly OutboxEntry[]>): LifecycleTransitionRecord[] {
  return [...outboxes.values()]
    .flat()
    .filter((entry) => entry.topic === 'lifecycle')
    .map((entry) => entry.record as unknown as LifecycleTransitionRecord);
}

export interface LoadedMember {
  /** This read's own copy: callers may change it. */
  readonly state: MemberState;
  /** The version as read, for the compare-and-set write. */
  readonly version: number;
  /** Of the message ids asked about, those already applied within the horizon. */
  readonly seen: ReadonlySet<string>;
  /** Outputs stored earlier but not confirmed published (e.g. before a crash). */
  readonly outbox: readonly OutboxEntry[];
  readonly known: boolean;
  readonly mergedInto: string | null;
}

export interface MemberWrite {
  readonly memberId: string;
  /** The version read; the write is refused if the member changed since. */
  readonly expectedVersion: number;
  readonly state: MemberState;
  readonly known: boolean;
  readonly outbox: readonly OutboxEntry[];
  readonly seen: readonly { readonly messageId: string; readonly receivedAt: number }[];
  /** Seen message ids received before this are forgotten. */
  readonly seenHorizon: number;
  /**
   * When set, the state's next check time goes into this timer shard in the same round
   * trip. Only ever moved earlier (ZADD LT), so a write that loses the compare-and-set
   * cannot postpone another writer's check; an early check re-evaluates and reschedules.
   */
  readonly timerShard?: number;
}

// Compare-and-set of a member: state, outbox and seen ids change together or not at all.
const SAVE_SCRIPT = `
local version = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if version ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', version + 1, 's', ARGV[2], 'k', ARGV[3])
local outbox = tonumber(ARGV[5])
for i = 1, outbox do redis.call('RPUSH', KEYS[2], ARGV[5 + i]) end
local j = 6 + outbox
while j < #ARGV do
  redis.call('ZADD', KEYS[3], ARGV[j], ARGV[j + 1])
  j = j + 2
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[4])
return 1
`;

/** Member state in Redis, read and written in pipelines (one round trip per batch each way). */
export class MemberStore {
  readonly #redis: Redis;
  readonly #keys: Keys;

  constructor(redis: Redis, keys: Keys) {
    this.#redis = redis;
    this.#keys = keys;
    this.#redis.defineCommand('segstreamSaveMember', { numberOfKeys: 3, lua: SAVE_SCRIPT });
  }

  async load(requests: readonly { memberId: string; messageIds: readonly string[] }[]): Promise<Map<string, LoadedMember>> {
    const pipeline = this.#redis.pipeline();
    for (const { memberId, messageIds } of requests) {
      pipeline.hmget(this.#keys.member(memberId), 'v', 's', 'k', 'into');
      pipeline.lrange(this.#keys.outbox(memberId), 0, -1);
      if (messageIds.length > 0) pipeline.zmscore(this.#keys.seen(memberId), ...messageIds);
    }
    const results = await pipeline.exec();
    if (!results) throw new Error('Redis pipeline returned nothing');
    const loaded = new Map<string, LoadedMember>();
    let i = 0;
    for (const { memberId, messageIds } of requests) {
      const [hashError, hash] = results[i++] as [Error | null, (string | null)[]];
      const [outboxError, outbox] = results[i++] as [Error | null, string[]];
      let scores: (string | null)[] = [];
      if (messageIds.length > 0) {
        const [seenError, seenScores] = results[i++] as [Error | null, (string | null)[]];
        if (seenError) throw seenError;
        scores = seenScores;
      }
      if (hashError) throw hashError;
      if (outboxError) throw outboxError;
      const [version, stateJson, known, into] = hash;
      const state = stateJson ? (JSON.parse(stateJson) as MemberState) : emptyMemberState(memberId);
      state.version = Number(version ?? 0);
      loaded.set(memberId, {
        state,
        version: state.version,
        seen: new Set(messageIds.filter((_, index) => scores[index] !== null)),
        outbox: outbox.map((entry) => JSON.parse(entry) as OutboxEntry),
        known: known === '1',
        mergedInto: into ?? null,
      });
    }
    return loaded;
  }

  /** Writes members; returns the ids whose write was refused because they changed since they were read. */
  async save(writes: readonly MemberWrite[]): Promise<string[]> {
    if (writes.length === 0) return [];
    const pipeline = this.#redis.pipeline();
    for (const w of writes) {
      const seenArgs = w.seen.flatMap((s) => [String(s.receivedAt), s.messageId]);
      const state = { ...w.state, version: w.expectedVersion + 1 };
      (pipeline as unknown as { segstreamSaveMember: (...args: string[]) => unknown }).segstreamSaveMember(
        this.#keys.member(w.memberId),
        this.#keys.outbox(w.memberId),
        this.#keys.seen(w.memberId),
        String(w.expectedVersion),
        JSON.stringify(state),
        w.known ? '1' : '0',
        String(w.seenHorizon),
        String(w.outbox.length),
        ...w.outbox.map((entry) => JSON.stringify(entry)),
        ...seenArgs,
      );
    }
    for (const w of writes)
      if (w.timerShard !== undefined && w.state.nextCheckAt !== null) pipeline.zadd(this.#keys.timers(w.timerShard), 'LT', w.state.nextCheckAt, w.memberId);
    const results = await pipeline.exec();
    if (!results) throw new Error('Redis pipeline returned nothing');
    const conflicts: string[] = [];
    results.forEach(([error, result], index) => {
      if (error) throw error;
      if (index < writes.length && result === 0) conflicts.push((writes[index] as MemberWrite).memberId);
    });
    return conflicts;
  }

  /** Removes the first `count` outbox entries of each member once they are published. */
  async acknowledgeOutbox(published: ReadonlyMap<string, number>): Promise<void> {
    if (published.size === 0) return;
    const pipeline = this.#redis.pipeline();
    for (const [memberId, count] of published) pipeline.ltrim(this.#keys.outbox(memberId), count, -1);
    await pipeline.exec();
  }

  /** Every message id a member saw within the horizon, with when it was received (carried over on a merge). */
  async allSeen(memberId: string): Promise<{ messageId: string; receivedAt: number }[]> {
    const flat = await this.#redis.zrange(this.#keys.seen(memberId), '0', '-1', 'WITHSCORES');
    const seen: { messageId: string; receivedAt: number }[] = [];
    for (let i = 0; i < flat.length; i += 2) seen.push({ messageId: flat[i] as string, receivedAt: Number(flat[i + 1]) });
    return seen;
  }

  async markMergedInto(memberId: string, into: string): Promise<void> {
    await this.#redis.hset(this.#keys.member(memberId), 'into', into);
  }
}
