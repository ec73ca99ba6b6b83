import { noOutputs, type WorkingMember } from '../../domain/member/step.ts';
import type { LoadedMember, MemberStore, MemberWrite, OutboxEntry } from '../store/member-store.ts';
import { outboxEntries } from '../store/member-store.ts';
import type { OutboxInFlight } from './outbox-in-flight.ts';
import { timerShardOf } from './timer-shards.ts';

/** A member to read, and the message ids to look up in what it has seen. */
export interface MemberRead {
  readonly memberId: string;
  readonly messageIds: readonly string[];
}

export interface SeenEntry {
  readonly messageId: string;
  readonly receivedAt: number;
}

/** A member in a unit of work: the working copy its steps change, and what saving it needs. */
export interface UnitMember extends WorkingMember {
  readonly memberId: string;
  /** As read for this attempt. */
  readonly loaded: LoadedMember;
  /** Message ids this unit applied (or carried over from members merged in), remembered for de-duplication. */
  readonly seen: SeenEntry[];
  /** The same, by message id: receivedAt of the copy applied. */
  readonly seenInUnit: Map<string, number>;
  /** Set when this member was folded into another in this unit: it is closed to further writes. */
  mergedInto: string | undefined;
}

/** The members one attempt read, each given a working copy on first use. */
export class UnitMembers {
  readonly #loaded: ReadonlyMap<string, LoadedMember>;
  readonly #working = new Map<string, UnitMember>();

  constructor(loaded: ReadonlyMap<string, LoadedMember>) {
    this.#loaded = loaded;
  }

  loaded(memberId: string): LoadedMember {
    const member = this.#loaded.get(memberId);
    if (!member) throw new Error(`member ${memberId} was not read by this unit of work`);
    return member;
  }

  /** The working copy (the loaded state is this attempt's own: parsed from Redis just now). */
  get(memberId: string): UnitMember {
    let member = this.#working.get(memberId);
    if (!member) {
      const loaded = this.loaded(memberId);
      member = { memberId, loaded, state: loaded.state, known: loaded.known, outputs: noOutputs(), seen: [], seenInUnit: new Map(), mergedInto: undefined };
      this.#working.set(memberId, member);
    }
    return member;
  }

  /** Every loaded member, read or not yet touched. */
  get read(): ReadonlyMap<string, LoadedMember> {
    return this.#loaded;
  }

  touched(): UnitMember[] {
    return [...this.#working.values()];
  }
}

/**
 * One kind of work on members: events of a slice, timers that fell due, segments of a
 * newly active rule. The driver reads, calls `step`, saves with compare-and-set, and on a
 * refused save runs the attempt again from fresh reads.
 */
export interface UnitOfWork<R> {
  /** The members to read for this attempt (identities may be resolved again first). */
  reads(attempt: number): Promise<readonly MemberRead[]>;
  /** Applies the unit to the members' working copies (pure steps); repeatable from a fresh read. */
  step(members: UnitMembers): R;
  /** After a save that refused `refused` (they changed meanwhile): the others are saved; the attempt runs again. */
  refused?(refused: ReadonlySet<string>, members: UnitMembers, result: R): void;
}

export interface UnitDone<R> {
  readonly result: R;
  /**
   * Per member, the outputs to publish: what this unit emitted, after what earlier units
   * left in the member's outbox and no unit of this process is still publishing.
   */
  readonly outboxes: Map<string, readonly OutboxEntry[]>;
  readonly saved: readonly UnitMember[];
}

export interface MemberDriverSettings {
  /** Seen message ids received before now - horizon are forgotten, except each member's newest `keepNewest`. */
  readonly dedupHorizonMs: number;
  readonly dedupKeepNewest: number;
  /** How many timer shards there are, once known (the events topic's partitions). */
  readonly timerShards: () => number | undefined;
  readonly maxAttempts: number;
}

/** The one driver of every unit of work on members: load -> step -> compare-and-set save. */
export class MemberDriver {
  readonly #store: MemberStore;
  readonly #inFlight: OutboxInFlight;
  readonly #settings: MemberDriverSettings;

  constructor(store: MemberStore, inFlight: OutboxInFlight, settings: MemberDriverSettings) {
    this.#store = store;
    this.#inFlight = inFlight;
    this.#settings = settings;
  }

  /** Runs the unit until its save goes through; `now` dates the de-duplication horizon. */
  async run<R>(unit: UnitOfWork<R>, now: number): Promise<UnitDone<R>> {
    for (let attempt = 1; attempt <= this.#settings.maxAttempts; attempt++) {
      const loaded = await this.#store.load(await unit.reads(attempt));
      // What earlier units left in each outbox, as read: entries another unit was publishing when they were read are
      // its own, even if it has finished by the time this unit publishes (a check then would publish them again).
      const earlier = new Map([...loaded].map(([memberId, member]) => [memberId, this.#inFlight.notInFlight(memberId, member.outbox)]));
      const members = new UnitMembers(loaded);
      const result = unit.step(members);
      const touched = members.touched();
      const outboxOf = new Map(touched.map((member) => [member.memberId, outboxEntries(member.outputs)]));
      const conflicts = await this.#store.save(touched.map((member) => this.#write(member, outboxOf.get(member.memberId) ?? [], now)));
      if (conflicts.length === 0) {
        // Every member read, changed or not, publishes what earlier units left (an attempt refused on another
        // member may have saved this one already, which is then read again and left unchanged).
        const outboxes = new Map<string, readonly OutboxEntry[]>();
        for (const memberId of new Set([...loaded.keys(), ...outboxOf.keys()])) {
          const entries = [...(earlier.get(memberId) ?? []), ...(outboxOf.get(memberId) ?? [])];
          if (entries.length > 0) outboxes.set(memberId, entries);
        }
        // And what members folded into those left behind (they are published under their own member, and removed there).
        for (const member of loaded.values())
          for (const [source, stored] of member.mergedOutboxes) {
            if (outboxes.has(source)) continue;
            const entries = this.#inFlight.notInFlight(source, stored);
            if (entries.length > 0) outboxes.set(source, entries);
          }
        this.#inFlight.take(outboxes);
        return { result, outboxes, saved: touched };
      }
      unit.refused?.(new Set(conflicts), members, result);
    }
    throw new Error(`members kept changing under this processor (another replica writing them); the work is retried`);
  }

  #write(member: UnitMember, outbox: readonly OutboxEntry[], now: number): MemberWrite {
    const shards = this.#settings.timerShards();
    return {
      memberId: member.memberId,
      mergedInto: member.mergedInto,
      expectedVersion: member.loaded.version,
      state: member.state,
      known: member.known,
      outbox,
      seen: member.seen,
      seenHorizon: now - this.#settings.dedupHorizonMs,
      seenKeep: this.#settings.dedupKeepNewest,
      ...(shards === undefined ? {} : { timerShard: timerShardOf(member.memberId, shards) }),
    };
  }
}
