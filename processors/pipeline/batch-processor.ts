import { linkIdentities } from '../../domain/member/identity-links.ts';
import { type SourcePosition, stepMember } from '../../domain/member/step.ts';
import type { RuleSettings } from '../../domain/member/triggers.ts';
import type { KeyedHash } from '../../domain/privacy/keyed-hash.ts';
import type { RuleSet } from '../../domain/rules/rule-set.ts';
import type { Clock } from '../../lib/clock.ts';
import { MS_PER_DAY } from '../../lib/clock.ts';
import { deadLetterOf, type ReadRecord } from '../../lib/kafka/dead-letter.ts';
import { partitionOfKey } from '../../lib/kafka/key-partition.ts';
import { type StepOutcome, step } from '../../lib/result.ts';
import type { AvroCodec } from '../../schemas/codec.ts';
import type { DeadLetterRecord, EventRecord } from '../../schemas/records.ts';
import type { IdentityRef } from '../identity/identities.ts';
import { eventProtector } from '../identity/protect.ts';
import type { IdentityResolver, ResolvedEvent } from '../identity/resolver.ts';
import type { MemberStore, OutboxEntry } from '../store/member-store.ts';
import type { Frontier } from '../store/partition-progress.ts';
import { heldEvents, type SliceEvent } from './link-fences.ts';
import type { MemberDriver, SeenEntry, UnitDone, UnitMember, UnitMembers } from './member-driver.ts';
import type { AppliedEvent } from './member-events.ts';
import type { MemberLocks } from './member-locks.ts';

export interface SourceRecord extends ReadRecord {
  /** The Kafka record's time: ingest's receive time (what slices are merged by). */
  readonly timestamp: number;
}

export interface ProcessingLimits {
  /** Events older than this (by event time) go to the dead-letter topic. */
  readonly retentionDays: number;
  /** Events further than this in the future go to the dead-letter topic. */
  readonly futureToleranceMs: number;
  /** Traits that identify a person; stored only as keyed hashes. */
  readonly identityTraits: readonly string[];
}

export interface BatchResult {
  readonly deadLetters: DeadLetterRecord[];
  /** Outputs to publish, per member, in order: entries from earlier attempts first. */
  readonly outboxes: Map<string, readonly OutboxEntry[]>;
  /** Events for history: those applied now, and those applied before whose history may not have been published (offsets past `historyPublished`). */
  readonly events: AppliedEvent[];
  readonly applied: number;
  /** Not applied again: client retries of a message, and re-reads of records applied before. */
  readonly duplicates: number;
  /** Per partition, the latest event time of its records in the slice (dead letters aside). */
  readonly streamTimes: Map<number, number>;
  /** Per partition, the latest receive time of its records applied. */
  readonly lastReceived: Map<number, number>;
  /** Per partition, how far it is applied by ingest's receive time (PartitionProgress.frontiers). */
  readonly frontiers: Map<number, Frontier>;
  /** Per partition, the offsets of records not applied yet: links waiting for another partition, and later events of their members. */
  readonly held: Map<number, Set<string>>;
}

/** What links across partitions wait on: the events topic's partition count, and how far each partition is. */
export interface LinkFences {
  partitions(): number | undefined;
  frontiers(partitions: readonly number[]): Promise<Map<number, Frontier>>;
}

/**
 * Whether a decoded event is applied (ok) or dead-lettered, with the reason: older than
 * the retention, further in the future than the tolerance, or without any identity.
 */
export function admission(event: EventRecord, now: number, limits: ProcessingLimits): StepOutcome<EventRecord> {
  if (event.timestamp < now - limits.retentionDays * MS_PER_DAY)
    return step.dlq('too_old', `event time ${new Date(event.timestamp).toISOString()} is more than ${limits.retentionDays} days old`);
  if (event.timestamp > now + limits.futureToleranceMs)
    return step.dlq(
      'too_far_in_future',
      `event time ${new Date(event.timestamp).toISOString()} is more than ${limits.futureToleranceMs} ms ahead of the processor clock`,
    );
  if (!event.userId && !event.anonymousId && !event.previousId) return step.dlq('no_identity', 'the event has neither userId nor anonymousId');
  return step.ok(event);
}

/** Per source partition, the highest offset whose history is known to be published (so a re-read publishes none). */
export type HistoryPublished = ReadonlyMap<number, number>;

/** What happened to each event of a slice in the attempt that was saved. */
type EventOutcome = 'applied' | 'reread' | 'duplicate';

/**
 * Applies one slice of events (from one or more partitions) to member state as one unit
 * of work: records are decoded and admitted (else dead-lettered), identities resolved,
 * then the events applied in order through the member step and saved by the driver.
 * Nothing here commits offsets or publishes: the caller completes the unit.
 */
export class BatchProcessor {
  readonly #codec: AvroCodec<EventRecord>;
  readonly #resolver: IdentityResolver;
  readonly #store: MemberStore;
  readonly #driver: MemberDriver;
  readonly #clock: Clock;
  readonly #limits: ProcessingLimits;
  readonly #settings: RuleSettings;
  readonly #rules: () => RuleSet;
  readonly #locks: MemberLocks;
  readonly #protect: (event: EventRecord) => EventRecord;
  readonly #fences: LinkFences | undefined;

  constructor(deps: {
    codec: AvroCodec<EventRecord>;
    resolver: IdentityResolver;
    /** Read for what merged members had seen. */
    store: MemberStore;
    driver: MemberDriver;
    clock: Clock;
    hash: KeyedHash;
    settings: RuleSettings;
    rules: () => RuleSet;
    limits: ProcessingLimits;
    /** Shared by every slice this processor applies at once. */
    locks: MemberLocks;
    /** Without them, links never wait (one partition, or tests of other things). */
    fences?: LinkFences;
  }) {
    this.#fences = deps.fences;
    this.#locks = deps.locks;
    this.#settings = deps.settings;
    this.#rules = deps.rules;
    this.#codec = deps.codec;
    this.#resolver = deps.resolver;
    this.#store = deps.store;
    this.#driver = deps.driver;
    this.#clock = deps.clock;
    this.#limits = deps.limits;
    this.#protect = eventProtector(deps.limits.identityTraits, deps.hash);
  }

  async process(topic: string, records: readonly SourceRecord[], historyPublished: HistoryPublished = new Map()): Promise<BatchResult> {
    const now = this.#clock.now();
    const deadLetters: DeadLetterRecord[] = [];
    let accepted: { record: SourceRecord; event: EventRecord }[] = [];
    for (const record of records) {
      const decoded = this.#codec.decodeKnown(record.value) ?? (await this.#codec.decode(record.value));
      const outcome = decoded.ok ? admission(decoded.value, now, this.#limits) : step.dlq(decoded.error.reason, decoded.error.detail);
      if (outcome.kind === 'ok') accepted.push({ record, event: outcome.value });
      else if (outcome.kind === 'dlq') deadLetters.push(deadLetterOf(topic, record, outcome.reason, outcome.detail, now));
    }
    const admitted = accepted;
    const fenced = await this.#holdBackLinks(admitted);
    const held = new Map<number, Set<string>>();
    const heldEventTimes = new Map<number, number>();
    if (fenced.held.size > 0) {
      accepted = admitted.filter((_, index) => !fenced.held.has(index));
      for (const index of fenced.held) {
        const { record, event } = admitted[index] as { record: SourceRecord; event: EventRecord };
        const offsets = held.get(record.partition) ?? new Set<string>();
        offsets.add(record.offset);
        held.set(record.partition, offsets);
        heldEventTimes.set(record.partition, Math.min(heldEventTimes.get(record.partition) ?? event.timestamp, event.timestamp));
      }
    }
    const sources = new Map<number, string>();
    const sourceOf = (record: SourceRecord) => {
      let source = sources.get(record.partition);
      if (source === undefined) {
        source = `${topic}/${record.partition}`;
        sources.set(record.partition, source);
      }
      return source;
    };
    let resolved: ResolvedEvent[] = [];
    /** What the members merged in this attempt had seen: carried over to the member they merge into. */
    let seenBySource = new Map<string, readonly SeenEntry[]>();
    /** Re-read events whose member has members folded into it: one of those may be the member that applied them. */
    let mergedBeforeReread = new Map<number, readonly string[]>();
    // Events an earlier attempt applied and saved, with the member they were applied to: skipped by the next
    // attempt (which may resolve them to another member, merged meanwhile), but applied, not duplicates.
    const savedByEarlierAttempt = new Map<number, string>();
    let release: (() => void) | undefined;
    const rules = this.#rules();
    let done: UnitDone<EventOutcome[]>;
    try {
      done = await this.#driver.run<EventOutcome[]>(
        {
          reads: async (attempt) => {
            release?.();
            // Resolved again on every attempt: a conflict may mean a member was merged meanwhile.
            // Identities are resolved from the event as sent; everything stored gets the protected copy.
            const events = accepted.map((a) => a.event);
            resolved = (await this.#resolver.resolve(events, attempt === 1 ? fenced.planned : undefined)).map(({ event, plan }) => ({
              event: this.#protect(event),
              plan,
            }));
            // Another slice of this process working on one of these members finishes first.
            release = await this.#locks.claim(resolved.flatMap((r) => [r.plan.memberId, ...r.plan.merge]));
            const messageIds = new Map<string, string[]>();
            for (const { plan, event } of resolved) {
              const ids = messageIds.get(plan.memberId);
              if (ids) ids.push(event.messageId);
              else messageIds.set(plan.memberId, [event.messageId]);
              for (const source of plan.merge) if (!messageIds.has(source)) messageIds.set(source, []);
            }
            const mergeSources = [...new Set(resolved.flatMap((r) => r.plan.merge))];
            seenBySource = new Map(await Promise.all(mergeSources.map(async (id) => [id, await this.#store.allSeen(id)] as const)));
            return [...messageIds].map(([memberId, ids]) => ({ memberId, messageIds: ids }));
          },
          step: (members) => {
            mergedBeforeReread = new Map();
            return resolved.map(({ event, plan }, index) => {
              const record = (accepted[index] as { record: SourceRecord }).record;
              const position = { source: sourceOf(record), offset: Number(record.offset) };
              const outcome = this.#applyOne(members, { event, plan, position, seenBySource }, rules, savedByEarlierAttempt.has(index));
              const { mergedFrom } = members.get(plan.memberId).state;
              if (outcome === 'reread' && mergedFrom.length > 0) mergedBeforeReread.set(index, [...mergedFrom]);
              return outcome;
            });
          },
          refused: (refused, _members, outcomes) => {
            outcomes.forEach((outcome, index) => {
              const { memberId } = (resolved[index] as ResolvedEvent).plan;
              if (outcome === 'applied' && !savedByEarlierAttempt.has(index) && !refused.has(memberId)) savedByEarlierAttempt.set(index, memberId);
            });
          },
        },
        now,
      );
    } finally {
      release?.();
    }
    // The merged member already forwards to the target (written with it); pointing its identities straight there saves a hop.
    for (const member of done.saved) if (member.mergedInto) await this.#resolver.repoint(member.state.identities, member.mergedInto);
    let applied = 0;
    let duplicates = 0;
    const events: AppliedEvent[] = [];
    const appliedBy = await this.#appliedBy(mergedBeforeReread, resolved);
    done.result.forEach((outcome, i) => {
      if (outcome === 'applied') applied++;
      else duplicates++;
      const { record, event: decoded } = accepted[i] as { record: SourceRecord; event: EventRecord };
      // A client retry never reaches history; a re-read does only where its history may be missing.
      const historyMissing = outcome === 'applied' || (outcome === 'reread' && Number(record.offset) > (historyPublished.get(record.partition) ?? -1));
      if (!historyMissing) return;
      const { plan, event } = resolved[i] as ResolvedEvent;
      // An event the processor did not change (no identity traits to hash) goes to history as the bytes it came in.
      events.push({ memberId: savedByEarlierAttempt.get(i) ?? appliedBy.get(i) ?? plan.memberId, event, encoded: event === decoded ? record.value : null });
    });
    const streamTimes = new Map<number, number>();
    const lastReceived = new Map<number, number>();
    for (const { record, event } of accepted) {
      streamTimes.set(record.partition, Math.max(streamTimes.get(record.partition) ?? event.timestamp, event.timestamp));
      lastReceived.set(record.partition, Math.max(lastReceived.get(record.partition) ?? event.receivedAt, event.receivedAt));
    }
    // Without links across partitions nothing waits: every partition applied is passed up to what it applied.
    const frontiers = fenced.frontiers ?? new Map([...lastReceived].map(([partition, receivedAt]) => [partition, { receivedAt, held: new Map() }]));
    // A partition with records waiting is no further in event time than the earliest of them: timers must not pass
    // an event that has yet to be applied.
    for (const [partition, timestamp] of heldEventTimes) streamTimes.set(partition, Math.min(streamTimes.get(partition) ?? timestamp, timestamp));
    const outcome = { deadLetters, outboxes: done.outboxes, events, applied, duplicates };
    return { ...outcome, streamTimes, lastReceived, frontiers, held };
  }

  /**
   * Links across partitions wait (docs/processors.md, "Order across partitions"): an event
   * that links or merges an identity whose anonymous events are on another partition is
   * applied only once that partition has applied everything received before it, so the
   * member it folds in is the same whatever order partitions are read in; later events of
   * the members it changes wait with it. Returns the indexes of the events that wait, the
   * partitions' frontiers after the slice (none without links), and the plan of the
   * events that go on, made from the reads of the check (claimed by the first attempt).
   */
  async #holdBackLinks(
    accepted: readonly { record: SourceRecord; event: EventRecord }[],
  ): Promise<{ held: ReadonlySet<number>; frontiers?: Map<number, Frontier>; planned?: ResolvedEvent[] }> {
    const partitions = this.#fences?.partitions();
    if (!this.#fences || partitions === undefined || accepted.length === 0) return { held: new Set() };
    const reads = await this.#resolver.read(accepted.map((a) => a.event));
    const planned = this.#resolver.decide(reads);
    const events: SliceEvent[] = planned.map(({ plan }, index) => {
      const { record, event } = accepted[index] as { record: SourceRecord; event: EventRecord };
      const members = [plan.memberId, ...plan.merge];
      if (plan.link.length === 0 && plan.merge.length === 0) return { partition: record.partition, receivedAt: event.receivedAt, members, linksAcross: [] };
      const anonymous = [event.anonymousId, event.type === 'alias' ? event.previousId : null].filter((id): id is string => !!id);
      const linksAcross = [...new Set(anonymous.map((id) => partitionOfKey(id, partitions)))].filter((p) => p !== record.partition);
      return { partition: record.partition, receivedAt: event.receivedAt, members, linksAcross };
    });
    const slicePartitions = new Set(events.map((e) => e.partition));
    const waitingOn = [...new Set(events.flatMap((e) => e.linksAcross))];
    // Partitions of the slice too: what waited there before comes up again in it.
    const stored = await this.#fences.frontiers([...new Set([...waitingOn, ...slicePartitions])]);
    const { held, frontiers } = heldEvents(events, stored);
    // The events that go on, planned without those that wait, from the same reads.
    return { held, frontiers, planned: held.size === 0 ? planned : this.#resolver.decide(reads, (index) => !held.has(index)) };
  }

  /**
   * Which member applied each re-read event whose member has members folded into it, when
   * one of those did: history names the member an event was applied to, whichever member
   * it resolves to now. The last of `mergedFrom` that saw it is the one (a member comes
   * before those folded into it, and each saw what those saw).
   */
  async #appliedBy(mergedBeforeReread: ReadonlyMap<number, readonly string[]>, resolved: readonly ResolvedEvent[]): Promise<Map<number, string>> {
    const indexes = [...mergedBeforeReread.keys()];
    if (indexes.length === 0) return new Map();
    const seen = await this.#store.seenAmong(
      indexes.map((i) => ({ messageId: (resolved[i] as ResolvedEvent).event.messageId, memberIds: mergedBeforeReread.get(i) as readonly string[] })),
    );
    const appliedBy = new Map<number, string>();
    indexes.forEach((index, n) => {
      const applier = (seen[n] as string[]).at(-1);
      if (applier !== undefined) appliedBy.set(index, applier);
    });
    return appliedBy;
  }

  /**
   * Applies one event of the slice to the working copies (so a merge folds in what the
   * anonymous member did earlier in the same slice). An event at or below the member's
   * last applied offset of its partition, or whose message id the member has seen, is not
   * applied again: a re-read when it is this very record (same receivedAt), else a client
   * retry (a duplicate).
   */
  #applyOne(
    members: UnitMembers,
    input: { event: EventRecord; plan: ResolvedEvent['plan']; position: SourcePosition; seenBySource: ReadonlyMap<string, readonly SeenEntry[]> },
    rules: RuleSet,
    savedEarlier: boolean,
  ): EventOutcome {
    const { event, plan, position } = input;
    const context = { rules, settings: this.#settings };
    const target = members.get(plan.memberId);
    for (const sourceId of plan.merge) {
      const source = members.get(sourceId);
      if (!target.state.mergedFrom.includes(sourceId)) markSeen(target, [...(input.seenBySource.get(sourceId) ?? []), ...source.seen]);
      stepMember(target, { kind: 'absorb', source, at: event.timestamp, causeEventId: event.messageId }, context);
      source.mergedInto = plan.memberId;
    }
    const seenAt = target.loaded.seen.get(event.messageId) ?? target.seenInUnit.get(event.messageId);
    if (position.offset <= (target.state.applied[position.source] ?? -1) || seenAt !== undefined) {
      target.outputs.identityChanges.push(...linkIdentities(target.state, identityKeys(plan.owned), { at: event.timestamp, messageId: event.messageId }));
      if (event.userId) target.known = true;
      if (plan.merge.length > 0) stepMember(target, { kind: 'reevaluate', at: event.timestamp, causeEventId: event.messageId }, context);
      if (savedEarlier) return 'applied';
      // Seen with another receivedAt: the same message sent again (a retry), never the record applied before.
      return seenAt !== undefined && seenAt !== event.receivedAt ? 'duplicate' : 'reread';
    }
    const refused = plan.refused.map(({ identity, heldBy }) => ({ identity: identity.key, heldBy }));
    stepMember(target, { kind: 'event', event, identities: identityKeys(plan.owned), refused, position, merged: plan.merge.length > 0 }, context);
    markSeen(target, [{ messageId: event.messageId, receivedAt: event.receivedAt }]);
    return 'applied';
  }
}

const identityKeys = (refs: readonly IdentityRef[]): string[] => refs.map((ref) => ref.key);

function markSeen(member: UnitMember, entries: readonly SeenEntry[]): void {
  for (const entry of entries) {
    if (member.seenInUnit.has(entry.messageId)) continue;
    member.seen.push(entry);
    member.seenInUnit.set(entry.messageId, entry.receivedAt);
  }
}
