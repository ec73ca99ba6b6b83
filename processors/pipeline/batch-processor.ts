import { applyComputedTraits } from '../../domain/member/computed.ts';
import { applyEvent, type MemberState, type StateConfig } from '../../domain/member/member-state.ts';
import { foldMember } from '../../domain/member/merge.ts';
import { exitAllSegments, updateSegments } from '../../domain/member/segments.ts';
import { applyTriggers, type RuleSettings } from '../../domain/member/triggers.ts';
import type { RuleSet } from '../../domain/rules/rule-set.ts';
import type { Clock } from '../../lib/clock.ts';
import { MS_PER_DAY } from '../../lib/clock.ts';
import type { AvroCodec } from '../../schemas/codec.ts';
import type { DeadLetterRecord, EventRecord, LifecycleTransitionRecord, SegmentChangeRecord, TriggerFiringRecord } from '../../schemas/records.ts';
import type { AppliedEvent } from '../history/history-writer.ts';
import type { KeyedHash } from '../identity/keyed-hash.ts';
import { eventProtector } from '../identity/protect.ts';
import type { IdentityResolver, ResolvedEvent } from '../identity/resolver.ts';
import { type LoadedMember, type MemberStore, type MemberWrite, type OutboxEntry, outboxEntries } from '../store/member-store.ts';
import type { MemberLocks } from './member-locks.ts';

export interface SourceRecord {
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
}

export interface ProcessingLimits {
  /** Events older than this (by event time) go to the dead-letter topic. */
  readonly retentionDays: number;
  /** Events further than this in the future go to the dead-letter topic. */
  readonly futureToleranceMs: number;
  /** How long a messageId is remembered for de-duplicating client retries. */
  readonly dedupHorizonMs: number;
  /** A member's newest message ids kept even when older than the horizon (replays of old logs). */
  readonly dedupKeepNewest: number;
  readonly timerShards: number;
  /** Traits that identify a person; stored only as keyed hashes. */
  readonly identityTraits: readonly string[];
}

export interface IdentityChange {
  readonly action: 'linked' | 'merged' | 'refused';
  readonly memberId: string;
  readonly kind: string;
  readonly identityHash: string;
  /** For merged: the member folded in; for refused: the member that holds the identity. */
  readonly otherMemberId: string;
  readonly at: number;
  readonly messageId: string;
}

export interface BatchResult {
  readonly deadLetters: DeadLetterRecord[];
  /** Outputs to publish, per member, in order: entries from earlier attempts first. */
  readonly outboxes: Map<string, readonly OutboxEntry[]>;
  readonly events: AppliedEvent[];
  readonly identityChanges: IdentityChange[];
  readonly applied: number;
  readonly duplicates: number;
}

const deadLetter = (topic: string, record: SourceRecord, reason: string, detail: string, at: number): DeadLetterRecord => ({
  id: `${topic}/${record.partition}/${record.offset}`,
  reason,
  detail,
  sourceTopic: topic,
  sourcePartition: record.partition,
  sourceOffset: Number(record.offset),
  key: record.key,
  value: record.value,
  at,
});

/** The changed traits of an event that changed none (shared: most events). */
const NO_TRAITS: ReadonlySet<string> = new Set();

/** Which timer shard a member's lifecycle checks live in. */
export function timerShardOf(memberId: string, shards: number): number {
  let h = 0;
  for (let i = 0; i < memberId.length; i++) h = (Math.imul(h, 31) + memberId.charCodeAt(i)) | 0;
  return Math.abs(h) % shards;
}

/**
 * Applies one polled batch of one partition to member state. Nothing here commits
 * offsets or publishes: the caller publishes the outboxes and dead letters, writes
 * history, acknowledges the outboxes and only then commits.
 */
export class BatchProcessor {
  readonly #codec: AvroCodec<EventRecord>;
  readonly #resolver: IdentityResolver;
  readonly #store: MemberStore;
  readonly #clock: Clock;
  readonly #state: StateConfig;
  readonly #limits: ProcessingLimits;
  readonly #segments: RuleSettings;
  readonly #rules: () => RuleSet;
  readonly #locks: MemberLocks;
  readonly #protect: (event: EventRecord) => EventRecord;

  constructor(deps: {
    codec: AvroCodec<EventRecord>;
    resolver: IdentityResolver;
    store: MemberStore;
    clock: Clock;
    hash: KeyedHash;
    state: StateConfig;
    segments: RuleSettings;
    rules: () => RuleSet;
    limits: ProcessingLimits;
    /** Shared by every slice this processor applies at once. */
    locks: MemberLocks;
  }) {
    this.#locks = deps.locks;
    this.#segments = deps.segments;
    this.#rules = deps.rules;
    this.#codec = deps.codec;
    this.#resolver = deps.resolver;
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#state = deps.state;
    this.#limits = deps.limits;
    this.#protect = eventProtector(deps.limits.identityTraits, deps.hash);
  }

  async process(topic: string, records: readonly SourceRecord[]): Promise<BatchResult> {
    const now = this.#clock.now();
    const deadLetters: DeadLetterRecord[] = [];
    const accepted: { record: SourceRecord; event: EventRecord }[] = [];
    for (const record of records) {
      const decoded = this.#codec.decodeKnown(record.value) ?? (await this.#codec.decode(record.value));
      if (!decoded.ok) {
        deadLetters.push(deadLetter(topic, record, decoded.error.reason, decoded.error.detail, now));
        continue;
      }
      const event = decoded.value;
      if (event.timestamp < now - this.#limits.retentionDays * MS_PER_DAY) {
        deadLetters.push(
          deadLetter(
            topic,
            record,
            'too_old',
            `event time ${new Date(event.timestamp).toISOString()} is more than ${this.#limits.retentionDays} days old`,
            now,
          ),
        );
      } else if (event.timestamp > now + this.#limits.futureToleranceMs) {
        deadLetters.push(
          deadLetter(
            topic,
            record,
            'too_far_in_future',
            `event time ${new Date(event.timestamp).toISOString()} is more than ${this.#limits.futureToleranceMs} ms ahead of the processor clock`,
            now,
          ),
        );
      } else if (!event.userId && !event.anonymousId && !event.previousId) {
        deadLetters.push(deadLetter(topic, record, 'no_identity', 'the event has neither userId nor anonymousId', now));
      } else {
        accepted.push({ record, event });
      }
    }
    const partitionKeys = new Map<number, string>();
    const partitionKey = (record: SourceRecord) => {
      let key = partitionKeys.get(record.partition);
      if (key === undefined) {
        key = `${topic}/${record.partition}`;
        partitionKeys.set(record.partition, key);
      }
      return key;
    };
    let resolved: ResolvedEvent[] = [];
    let outcome: { outboxes: Map<string, readonly OutboxEntry[]>; applied: number; duplicates: number } | undefined;
    // Events an earlier attempt applied and saved: skipped on the next attempt, but applied, not duplicates.
    const savedByEarlierAttempt = new Set<number>();
    for (let attempt = 1; !outcome; attempt++) {
      if (attempt > 5) throw new Error('members kept changing under this processor (another replica writing them); the batch will be retried');
      // Resolved again on every attempt: a conflict may mean a member was merged meanwhile.
      // Identities are resolved from the event as sent; everything stored gets the protected copy.
      resolved = (await this.#resolver.resolve(accepted.map((a) => a.event))).map(({ event, plan }) => ({
        event: this.#protect(event),
        plan,
      }));
      // Another slice of this process working on one of these members finishes first.
      const release = await this.#locks.claim(resolved.flatMap((r) => [r.plan.memberId, ...r.plan.merge]));
      try {
        outcome = await this.#applyInOrder(resolved, accepted, partitionKey, now, savedByEarlierAttempt);
      } finally {
        release();
      }
    }
    const identityChanges = this.#identityChanges(resolved);
    const { outboxes, applied, duplicates } = outcome;
    // An event the processor did not change (no identity traits to hash) goes to history as the bytes it came in.
    const events = resolved.map(({ plan, event }, i) => {
      const { record, event: decoded } = accepted[i] as { record: SourceRecord; event: EventRecord };
      return { memberId: plan.memberId, event, encoded: event === decoded ? record.value : null };
    });
    return { deadLetters, outboxes, events, identityChanges, applied, duplicates };
  }

  /**
   * Applies the batch in its own order over working copies of every member it touches
   * (so a merge folds in what the anonymous member did earlier in the same batch), then
   * saves them all. If another writer changed a member meanwhile, returns undefined and
   * the whole batch is applied again from fresh reads: what was saved is then skipped
   * as already applied (and noted in `savedByEarlierAttempt`, to be counted as applied),
   * and its outbox entries come back for publishing.
   */
  async #applyInOrder(
    resolved: readonly ResolvedEvent[],
    accepted: readonly { record: SourceRecord; event: EventRecord }[],
    partitionKey: (record: SourceRecord) => string,
    now: number,
    savedByEarlierAttempt: Set<number>,
  ): Promise<{ outboxes: Map<string, readonly OutboxEntry[]>; applied: number; duplicates: number } | undefined> {
    const messageIds = new Map<string, string[]>();
    for (const { plan, event } of resolved) {
      const ids = messageIds.get(plan.memberId);
      if (ids) ids.push(event.messageId);
      else messageIds.set(plan.memberId, [event.messageId]);
      for (const source of plan.merge) if (!messageIds.has(source)) messageIds.set(source, []);
    }
    const loaded = await this.#store.load([...messageIds].map(([memberId, ids]) => ({ memberId, messageIds: ids })));
    const mergeSources = [...new Set(resolved.flatMap((r) => r.plan.merge))];
    const seenBySource = new Map(await Promise.all(mergeSources.map(async (id) => [id, await this.#store.allSeen(id)] as const)));
    const working = new Map<
      string,
      {
        state: MemberState;
        known: boolean;
        outputs: LifecycleTransitionRecord[];
        segmentChanges: SegmentChangeRecord[];
        triggerFirings: TriggerFiringRecord[];
        seen: { messageId: string; receivedAt: number }[];
        seenIds: Set<string>;
      }
    >();
    const workOn = (memberId: string) => {
      let w = working.get(memberId);
      if (!w) {
        const member = loaded.get(memberId) as LoadedMember;
        // The loaded state is this batch's own copy (parsed from Redis just now); only its version is needed as read.
        w = { state: member.state, known: member.known, outputs: [], segmentChanges: [], triggerFirings: [], seen: [], seenIds: new Set() };
        working.set(memberId, w);
      }
      return w;
    };
    const markSeen = (
      w: { seen: { messageId: string; receivedAt: number }[]; seenIds: Set<string> },
      entries: readonly { messageId: string; receivedAt: number }[],
    ) => {
      for (const entry of entries) {
        w.seen.push(entry);
        w.seenIds.add(entry.messageId);
      }
    };
    const merges: { source: string; into: string }[] = [];
    let applied = 0;
    let duplicates = 0;
    /** Event index -> the member it was applied to in this attempt. */
    const appliedTo = new Map<number, string>();
    // One rule set for the whole batch: a rule change applies from the next batch on.
    const rules = this.#rules();
    resolved.forEach(({ event, plan }, index) => {
      const record = (accepted[index] as { record: SourceRecord }).record;
      const target = workOn(plan.memberId);
      for (const sourceId of plan.merge) {
        const source = workOn(sourceId);
        if (!target.state.mergedFrom.includes(sourceId)) markSeen(target, [...(seenBySource.get(sourceId) ?? []), ...source.seen]);
        target.outputs.push(...foldMember(target.state, source.state, event.timestamp, this.#state));
        source.segmentChanges.push(...exitAllSegments(source.state, event.timestamp, event.messageId));
        merges.push({ source: sourceId, into: plan.memberId });
      }
      const segmentsAt = () => Math.max(event.timestamp, target.state.lifecycle?.evaluatedAt ?? 0);
      for (const ref of plan.link) if (!target.state.identities.includes(ref.key)) target.state.identities.push(ref.key);
      if (event.userId) target.known = true;
      const offset = Number(record.offset);
      const key = partitionKey(record);
      const seenBefore = (loaded.get(plan.memberId) as LoadedMember).seen.has(event.messageId) || target.seenIds.has(event.messageId);
      if (offset <= (target.state.applied[key] ?? -1) || seenBefore) {
        if (plan.merge.length > 0)
          target.segmentChanges.push(...updateSegments(target.state, target.known, rules, segmentsAt(), 'all', event.messageId, this.#segments));
        if (savedByEarlierAttempt.has(index)) applied++;
        else duplicates++;
        return;
      }
      const { outputs, changed } = applyEvent(target.state, event, this.#state);
      target.outputs.push(...outputs);
      if (event.userId) changed.add('known');
      const at = segmentsAt();
      for (const input of applyComputedTraits(target.state, event, rules, at)) changed.add(input);
      const segmentChanges = updateSegments(target.state, target.known, rules, at, plan.merge.length > 0 ? 'all' : changed, event.messageId, this.#segments);
      target.segmentChanges.push(...segmentChanges);
      // Most events change no trait: no set is made for them.
      let changedTraits: Set<string> | undefined;
      for (const c of changed) {
        if (!c.startsWith('traits.')) continue;
        changedTraits ??= new Set();
        changedTraits.add(c.slice('traits.'.length));
      }
      target.triggerFirings.push(
        ...applyTriggers(
          target.state,
          target.known,
          rules,
          { event, segmentChanges, transitions: outputs, at, changedTraits: changedTraits ?? NO_TRAITS },
          this.#segments,
        ),
      );
      target.state.applied[key] = offset;
      target.seen.push({ messageId: event.messageId, receivedAt: event.receivedAt });
      target.seenIds.add(event.messageId);
      appliedTo.set(index, plan.memberId);
      applied++;
    });

    const mergedInto = new Map(merges.map(({ source, into }) => [source, into]));
    const writes: MemberWrite[] = [...working].map(([memberId, w]) => ({
      memberId,
      mergedInto: mergedInto.get(memberId),
      expectedVersion: (loaded.get(memberId) as LoadedMember).version,
      state: w.state,
      known: w.known,
      outbox: outboxEntries(w.outputs, w.segmentChanges, w.triggerFirings),
      seen: w.seen,
      seenHorizon: now - this.#limits.dedupHorizonMs,
      seenKeep: this.#limits.dedupKeepNewest,
      timerShard: timerShardOf(memberId, this.#limits.timerShards),
    }));
    const conflicts = await this.#store.save(writes);
    if (conflicts.length > 0) {
      const refused = new Set(conflicts);
      for (const [index, memberId] of appliedTo) if (!refused.has(memberId)) savedByEarlierAttempt.add(index);
      return undefined;
    }

    const outboxes = new Map<string, readonly OutboxEntry[]>();
    for (const write of writes) outboxes.set(write.memberId, [...(loaded.get(write.memberId) as LoadedMember).outbox, ...write.outbox]);
    // The merged member already forwards to the target (written with it); pointing its identities straight there saves a hop.
    for (const { source, into } of merges) await this.#resolver.repoint((working.get(source) as { state: MemberState }).state.identities, into);
    return { outboxes, applied, duplicates };
  }

  #identityChanges(resolved: readonly ResolvedEvent[]): IdentityChange[] {
    const changes: IdentityChange[] = [];
    for (const { event, plan } of resolved) {
      if (plan.link.length === 0 && plan.merge.length === 0 && plan.refused.length === 0) continue;
      const base = { memberId: plan.memberId, at: event.timestamp, messageId: event.messageId };
      for (const ref of plan.link) changes.push({ ...base, action: 'linked', kind: ref.kind, identityHash: ref.hash, otherMemberId: '' });
      for (const merged of plan.merge) changes.push({ ...base, action: 'merged', kind: '', identityHash: '', otherMemberId: merged });
      for (const refusal of plan.refused)
        changes.push({ ...base, action: 'refused', kind: refusal.identity.kind, identityHash: refusal.identity.hash, otherMemberId: refusal.heldBy });
    }
    return changes;
  }
}
