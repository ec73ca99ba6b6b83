import { emptyMemberState, type MemberState, nextDueAt, storedMemberState } from '../../domain/member/member-state.ts';
import { type MemberOutputs, noOutputs } from '../../domain/member/step.ts';
import type { RedisPipelineClient } from '../../lib/redis/pipeline-client.ts';
import type { RedisCommand } from '../../lib/redis/resp.ts';
import type { IdentityChangeRecord, LifecycleTransitionRecord, SegmentChangeRecord, TriggerFiringRecord } from '../../schemas/records.ts';
import type { Keys } from './keys.ts';

/** An output waiting in a member's outbox: the topic it goes to and its record, typed per topic. */
export type OutboxEntry =
  | { readonly topic: 'lifecycle'; readonly record: LifecycleTransitionRecord }
  | { readonly topic: 'segmentChanges'; readonly record: SegmentChangeRecord }
  | { readonly topic: 'triggers'; readonly record: TriggerFiringRecord }
  | { readonly topic: 'identityChanges'; readonly record: IdentityChangeRecord };

export function outboxEntries(outputs: MemberOutputs): OutboxEntry[] {
  return [
    ...outputs.transitions.map((record) => ({ topic: 'lifecycle' as const, record })),
    ...outputs.segmentChanges.map((record) => ({ topic: 'segmentChanges' as const, record })),
    ...outputs.triggerFirings.map((record) => ({ topic: 'triggers' as const, record })),
    ...outputs.identityChanges.map((record) => ({ topic: 'identityChanges' as const, record })),
  ];
}

/** The records held in members' outboxes, per output topic (for publishing and history). */
export function outputsIn(outboxes: ReadonlyMap<string, readonly OutboxEntry[]>): MemberOutputs {
  const outputs = noOutputs();
  for (const entries of outboxes.values())
    for (const entry of entries) {
      if (entry.topic === 'lifecycle') outputs.transitions.push(entry.record);
      else if (entry.topic === 'segmentChanges') outputs.segmentChanges.push(entry.record);
      else if (entry.topic === 'triggers') outputs.triggerFirings.push(entry.record);
      else outputs.identityChanges.push(entry.record);
    }
  return outputs;
}

export interface LoadedMember {
  /** This read's own copy: callers may change it. */
  readonly state: MemberState;
  /** The version as read, for the compare-and-set write. */
  readonly version: number;
  /** Of the message ids asked about, those already applied within the horizon, with the receivedAt of the copy applied. */
  readonly seen: ReadonlyMap<string, number>;
  /** Outputs stored earlier but not confirmed published (e.g. before a crash). */
  readonly outbox: readonly OutboxEntry[];
  /**
   * Outputs left unpublished in the outboxes of members folded into this one (a crash
   * between a merge's save and its publishing): nothing reads a merged member again, so
   * whoever reads the member it went into publishes them. Empty nearly always.
   */
  readonly mergedOutboxes: ReadonlyMap<string, readonly OutboxEntry[]>;
  readonly known: boolean;
  readonly mergedInto: string | null;
}

const NO_MERGED_OUTBOXES: ReadonlyMap<string, readonly OutboxEntry[]> = new Map();

export interface MemberWrite {
  readonly memberId: string;
  /** The version read; the write is refused if the member changed since. */
  readonly expectedVersion: number;
  readonly state: MemberState;
  readonly known: boolean;
  readonly outbox: readonly OutboxEntry[];
  readonly seen: readonly { readonly messageId: string; readonly receivedAt: number }[];
  /**
   * Seen message ids received before this time are forgotten, except the member's newest
   * `seenKeep`: a replay of an old log (all of it older than the horizon by the clock)
   * still drops the retries that follow their originals, as live processing did, and
   * memory stays bounded.
   */
  readonly seenHorizon: number;
  readonly seenKeep: number;
  /**
   * When set, the state's next check time goes into this timer shard in the same round
   * trip. Only ever moved earlier (ZADD LT), so a write that loses the compare-and-set
   * cannot postpone another writer's check; an early check re-evaluates and reschedules.
   */
  readonly timerShard?: number;
  /** Set when this member was folded into another in this write: it is then closed to further writes. */
  readonly mergedInto?: string;
}

/*
 * Compare-and-set of one or more members, all or nothing: every member's version must be
 * the one read and none may have been merged away, else nothing is written (returns 0).
 * Per member, 3 keys (hash, outbox, seen) and the arguments: version, state, known,
 * seen horizon (time), merged into ('' if not), outbox count, outbox entries, seen count,
 * then receivedAt/messageId pairs, then how many of the newest seen ids to keep. A merge
 * writes the member folded in (marked merged) and the member it folded into in one call,
 * so a crash cannot leave one without the other.
 */
const SAVE_SCRIPT = `
local a = 1
for m = 0, #KEYS / 3 - 1 do
  local hash = KEYS[m * 3 + 1]
  local version = tonumber(redis.call('HGET', hash, 'v') or '0')
  if version ~= tonumber(ARGV[a]) or redis.call('HEXISTS', hash, 'into') == 1 then return 0 end
  local outbox = tonumber(ARGV[a + 5])
  a = a + 6 + outbox
  a = a + 2 + 2 * tonumber(ARGV[a])
end
a = 1
for m = 0, #KEYS / 3 - 1 do
  local hash, list, seen = KEYS[m * 3 + 1], KEYS[m * 3 + 2], KEYS[m * 3 + 3]
  redis.call('HSET', hash, 'v', tonumber(ARGV[a]) + 1, 's', ARGV[a + 1], 'k', ARGV[a + 2])
  if ARGV[a + 4] ~= '' then redis.call('HSET', hash, 'into', ARGV[a + 4]) end
  local horizon = tonumber(ARGV[a + 3])
  local outbox = tonumber(ARGV[a + 5])
  for i = 1, outbox do redis.call('RPUSH', list, ARGV[a + 5 + i]) end
  a = a + 6 + outbox
  local count = tonumber(ARGV[a])
  for i = 0, count - 1 do redis.call('ZADD', seen, ARGV[a + 1 + 2 * i], ARGV[a + 2 + 2 * i]) end
  a = a + 1 + 2 * count
  local keep = tonumber(ARGV[a])
  a = a + 1
  local size = redis.call('ZCARD', seen)
  if size > keep then
    local oldestKept = tonumber(redis.call('ZRANGE', seen, size - keep, size - keep, 'WITHSCORES')[2])
    redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. math.min(horizon, oldestKept))
  end
end
return 1
`;

/** Member state in Redis, read and written in pipelines (one round trip per batch each way). */
export class MemberStore {
  readonly #redis: RedisPipelineClient;
  readonly #keys: Keys;
  readonly #saveScript: string;

  constructor(redis: RedisPipelineClient, keys: Keys) {
    this.#redis = redis;
    this.#keys = keys;
    this.#saveScript = redis.script(SAVE_SCRIPT);
  }

  async load(requests: readonly { memberId: string; messageIds: readonly string[] }[]): Promise<Map<string, LoadedMember>> {
    const commands: RedisCommand[] = [];
    for (const { memberId, messageIds } of requests) {
      commands.push(['HMGET', this.#keys.member(memberId), 'v', 's', 'k', 'into'], ['LRANGE', this.#keys.outbox(memberId), 0, -1]);
      if (messageIds.length > 0) commands.push(['ZMSCORE', this.#keys.seen(memberId), ...messageIds]);
    }
    const results = await this.#redis.execOrThrow(commands);
    const loaded = new Map<string, LoadedMember>();
    let i = 0;
    for (const { memberId, messageIds } of requests) {
      const hash = results[i++] as (string | null)[];
      const outbox = results[i++] as string[];
      const scores = messageIds.length > 0 ? (results[i++] as (string | null)[]) : [];
      const [version, stateJson, known, into] = hash;
      const state = stateJson ? storedMemberState(JSON.parse(stateJson)) : emptyMemberState(memberId);
      state.version = Number(version ?? 0);
      loaded.set(memberId, {
        state,
        version: state.version,
        seen: new Map(messageIds.flatMap((messageId, index) => (scores[index] === null ? [] : [[messageId, Number(scores[index])] as const]))),
        outbox: outbox.map((entry) => JSON.parse(entry) as OutboxEntry),
        mergedOutboxes: NO_MERGED_OUTBOXES,
        known: known === '1',
        mergedInto: into ?? null,
      });
    }
    // Members that folded others in: their outboxes too, in one more round trip (only then).
    const merged = [...loaded].flatMap(([memberId, member]) => member.state.mergedFrom.map((source) => [memberId, source] as const));
    if (merged.length > 0) {
      const outboxes = (await this.#redis.execOrThrow(merged.map(([, source]) => ['LRANGE', this.#keys.outbox(source), 0, -1]))) as string[][];
      merged.forEach(([memberId, source], index) => {
        const entries = outboxes[index] as string[];
        if (entries.length === 0) return;
        const member = loaded.get(memberId) as LoadedMember;
        loaded.set(memberId, {
          ...member,
          mergedOutboxes: new Map([...member.mergedOutboxes, [source, entries.map((entry) => JSON.parse(entry) as OutboxEntry)]]),
        });
      });
    }
    return loaded;
  }

  /**
   * Writes members; returns the ids whose write was refused because they changed (or were
   * merged away) since they were read. Members taking part in a merge are written together.
   */
  async save(writes: readonly MemberWrite[]): Promise<string[]> {
    if (writes.length === 0) return [];
    const targets = new Set(writes.flatMap((w) => (w.mergedInto ? [w.mergedInto] : [])));
    const inMerge = (w: MemberWrite) => w.mergedInto !== undefined || targets.has(w.memberId);
    const merging = writes.filter(inMerge);
    const groups = [...writes.filter((w) => !inMerge(w)).map((w) => [w]), ...(merging.length > 0 ? [merging] : [])];
    const commands: RedisCommand[] = [];
    for (const group of groups) {
      const keys = group.flatMap((w) => [this.#keys.member(w.memberId), this.#keys.outbox(w.memberId), this.#keys.seen(w.memberId)]);
      const args = group.flatMap((w) => [
        w.expectedVersion,
        JSON.stringify({ ...w.state, version: w.expectedVersion + 1 }),
        w.known ? '1' : '0',
        w.seenHorizon,
        w.mergedInto ?? '',
        w.outbox.length,
        ...w.outbox.map((entry) => JSON.stringify(entry)),
        w.seen.length,
        ...w.seen.flatMap((seen) => [seen.receivedAt, seen.messageId]),
        w.seenKeep,
      ]);
      commands.push(['EVALSHA', this.#saveScript, keys.length, ...keys, ...args]);
    }
    for (const w of writes) {
      const dueAt = nextDueAt(w.state);
      if (w.timerShard !== undefined && dueAt !== null) commands.push(['ZADD', this.#keys.timers(w.timerShard), 'LT', dueAt, w.memberId]);
    }
    const results = await this.#redis.execOrThrow(commands);
    const conflicts: string[] = [];
    for (let index = 0; index < groups.length; index++) if (results[index] === 0) conflicts.push(...(groups[index] as MemberWrite[]).map((w) => w.memberId));
    return conflicts;
  }

  /**
   * Removes published outbox entries, each by its value (one copy per copy published).
   * Not by count: a slice that read a member's outbox while an earlier slice was still
   * publishing it publishes those entries again, and trimming by its count would then
   * also remove entries a later slice added and has not yet published.
   */
  async acknowledgeOutbox(published: ReadonlyMap<string, readonly OutboxEntry[]>): Promise<void> {
    if (published.size === 0) return;
    const commands: RedisCommand[] = [];
    for (const [memberId, entries] of published) {
      // Stored as JSON.stringify wrote them, which parsing and writing again reproduces.
      for (const entry of entries) commands.push(['LREM', this.#keys.outbox(memberId), 1, JSON.stringify(entry)]);
    }
    await this.#redis.execOrThrow(commands);
  }

  /**
   * Every member id, a page at a time (SCAN: members written meanwhile may or may not be
   * seen; each existing member is seen at least once). Resume from the returned cursor;
   * "0" when done.
   */
  async scanMembers(cursor: string, count: number): Promise<{ cursor: string; memberIds: string[] }> {
    const [next, keys] = (await this.#redis.call('SCAN', cursor, 'MATCH', this.#keys.memberPattern, 'COUNT', count, 'TYPE', 'hash')) as [string, string[]];
    return { cursor: next, memberIds: keys.map((key) => this.#keys.memberIdOf(key)) };
  }

  /** For each message, the members among its `memberIds` that saw it (within the horizon). */
  async seenAmong(queries: readonly { readonly messageId: string; readonly memberIds: readonly string[] }[]): Promise<string[][]> {
    const commands: RedisCommand[] = queries.flatMap(({ messageId, memberIds }) =>
      memberIds.map((id): RedisCommand => ['ZSCORE', this.#keys.seen(id), messageId]),
    );
    if (commands.length === 0) return queries.map(() => []);
    const scores = await this.#redis.execOrThrow(commands);
    let next = 0;
    return queries.map(({ memberIds }) => memberIds.filter(() => scores[next++] !== null));
  }

  /** Every message id a member saw within the horizon, with when it was received (carried over on a merge). */
  async allSeen(memberId: string): Promise<{ messageId: string; receivedAt: number }[]> {
    const flat = (await this.#redis.call('ZRANGE', this.#keys.seen(memberId), 0, -1, 'WITHSCORES')) as string[];
    const seen: { messageId: string; receivedAt: number }[] = [];
    for (let i = 0; i < flat.length; i += 2) seen.push({ messageId: flat[i] as string, receivedAt: Number(flat[i + 1]) });
    return seen;
  }
}
