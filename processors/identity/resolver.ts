import type { KeyedHash } from '../../domain/privacy/keyed-hash.ts';
import { hashKind, identifierProtector } from '../../domain/privacy/personal-data.ts';
import { boundedMemo } from '../../lib/bounded-memo.ts';
import type { RedisPipelineClient } from '../../lib/redis/pipeline-client.ts';
import type { RedisCommand } from '../../lib/redis/resp.ts';
import type { EventRecord } from '../../schemas/records.ts';
import type { Keys } from '../store/keys.ts';
import { deviceIdIn, type IdentityRef, type IdentityRefOf, identitiesOf, identityRefs, planResolution, type ResolutionPlan } from './identities.ts';

/** Deletes an identity's claim if it is still the given member's (undoing a claim of a lost attempt). */
const RELEASE_CLAIM = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export interface ResolvedEvent {
  readonly event: EventRecord;
  readonly plan: ResolutionPlan;
}

/** A member's facts as read: whether it is known, and the member it was merged into. */
interface MemberFactsRead {
  readonly known: boolean;
  readonly into: string | null;
}

/** What Redis held for a batch's identities when it was read (IdentityResolver.read). */
export interface IdentityReads {
  readonly events: readonly EventRecord[];
  readonly identities: readonly { readonly user: IdentityRef | null; readonly others: readonly IdentityRef[] }[];
  /** The member each identity pointed to (null: none). */
  readonly owners: ReadonlyMap<string, string | null>;
  /** Facts of those members, and of the members they were merged into. */
  readonly facts: ReadonlyMap<string, MemberFactsRead>;
}

/**
 * Resolves a batch of events to members against Redis: one pipelined read of every
 * identity and member involved, planning in order (so a visitor created by the first
 * event is found by the next), then claiming new identities with SET NX. If another
 * processor claimed one first, the batch is planned again from fresh reads.
 */
export class IdentityResolver {
  readonly #redis: RedisPipelineClient;
  readonly #keys: Keys;
  readonly #hash: KeyedHash;
  readonly #identityTraits: readonly string[];
  readonly #refOf: IdentityRefOf;
  /** Device ids by context text: a visitor's events repeat one context, so most are parsed once. */
  readonly #deviceIds = boundedMemo((_, context) => deviceIdIn(context), 10_000);
  readonly #releaseClaim: string;

  readonly #storedIdentifier: (id: string) => string;

  constructor(redis: RedisPipelineClient, keys: Keys, hash: KeyedHash, identityTraits: readonly string[]) {
    this.#redis = redis;
    this.#releaseClaim = redis.script(RELEASE_CLAIM);
    this.#keys = keys;
    this.#hash = hash;
    this.#identityTraits = identityTraits;
    this.#refOf = identityRefs(hash);
    this.#storedIdentifier = identifierProtector(hash);
  }

  /**
   * The member an identity belongs to now (following merges), for lookups. Ids are asked
   * for as events store them: an id that is an email or phone number only as its hash.
   */
  async memberOf(kind: string, value: string): Promise<string | null> {
    const stored = kind === 'user' || kind === 'anon' || kind === 'device' ? this.#storedIdentifier(value) : value;
    const owner = (await this.#redis.call('GET', this.#keys.identity(kind, this.#hash(hashKind(kind), stored)))) as string | null;
    return owner === null ? null : this.#follow(owner);
  }

  async #follow(memberId: string): Promise<string> {
    let current = memberId;
    for (let hops = 0; hops < 16; hops++) {
      const into = (await this.#redis.call('HGET', this.#keys.member(current), 'into')) as string | null;
      if (!into) return current;
      current = into;
    }
    throw new Error(`merge chain from ${memberId} is longer than 16 hops`);
  }

  readonly #deviceIdOf = (context: string): string | null => this.#deviceIds('context', context);

  /** Plans and claims; `planned` is a plan of these very events made just before, claimed first if given. */
  async resolve(events: readonly EventRecord[], planned?: readonly ResolvedEvent[]): Promise<ResolvedEvent[]> {
    for (let attempt = 1; ; attempt++) {
      const resolved = attempt === 1 && planned ? planned : await this.plan(events);
      const lost = await this.#claim(resolved);
      if (!lost) return [...resolved];
      if (attempt >= 5) throw new Error('identities kept being claimed by another processor; giving up on this batch for now');
    }
  }

  /** Which member each event belongs to and what it links or merges, from what Redis holds now; nothing is claimed. */
  async plan(events: readonly EventRecord[]): Promise<ResolvedEvent[]> {
    return this.decide(await this.read(events));
  }

  /** What planning the events needs from Redis: the members their identities point to, and those members' facts. */
  async read(events: readonly EventRecord[]): Promise<IdentityReads> {
    const identities = events.map((event) => identitiesOf(event, this.#refOf, this.#identityTraits, this.#deviceIdOf));
    const refs = new Map<string, IdentityRef>();
    for (const { user, others } of identities) {
      if (user) refs.set(user.key, user);
      for (const ref of others) refs.set(ref.key, ref);
    }

    const owners = new Map<string, string | null>();
    const refList = [...refs.values()];
    const found = refList.length > 0 ? ((await this.#redis.call('MGET', ...refList.map((r) => this.#keys.identity(r.kind, r.hash)))) as (string | null)[]) : [];
    refList.forEach((ref, i) => {
      owners.set(ref.key, found[i] ?? null);
    });

    const facts = new Map<string, MemberFactsRead>();
    let unknown = [...new Set([...owners.values()].filter((m): m is string => m !== null))];
    while (unknown.length > 0) {
      const results = await this.#redis.execOrThrow(unknown.map((id) => ['HMGET', this.#keys.member(id), 'k', 'into']));
      const next: string[] = [];
      unknown.forEach((id, i) => {
        const [known, into] = results[i] as (string | null)[];
        facts.set(id, { known: known === '1', into: into ?? null });
        if (into && !facts.has(into)) next.push(into);
      });
      unknown = next;
    }
    return { events, identities, owners, facts };
  }

  /**
   * Plans the events read, in order (a visitor created by one event is found by the next),
   * from the reads alone: `keep` leaves events out, and the others are planned as if they
   * had been read without them.
   */
  decide(reads: IdentityReads, keep: (index: number) => boolean = () => true): ResolvedEvent[] {
    // Copies: planning an event records what it decided for the events after it.
    const owners = new Map(reads.owners);
    const facts = new Map(reads.facts);
    const follow = (id: string) => {
      let current = id;
      for (let hops = 0; hops < 16 && facts.get(current)?.into; hops++) current = facts.get(current)?.into as string;
      return current;
    };

    const NOT_KNOWN = { known: false };
    const ownerOf = (ref: IdentityRef) => {
      const owner = owners.get(ref.key);
      return owner ? follow(owner) : null;
    };
    const factsOf = (id: string) => facts.get(id) ?? NOT_KNOWN;
    const newMemberId = (ref: IdentityRef) => `m_${this.#hash('member', ref.key).slice(0, 24)}`;
    const resolved: ResolvedEvent[] = [];
    reads.events.forEach((event, index) => {
      if (!keep(index)) return;
      const { user, others } = reads.identities[index] as (typeof reads.identities)[number];
      const plan = planResolution(user, others, ownerOf, factsOf, newMemberId);
      // Later events of the batch see what this one decided.
      for (const ref of plan.link) owners.set(ref.key, plan.memberId);
      const targetFacts = facts.get(plan.memberId);
      if (targetFacts === undefined || targetFacts.into !== null || (!targetFacts.known && user !== null))
        facts.set(plan.memberId, { known: (targetFacts?.known ?? false) || user !== null, into: null });
      for (const merged of plan.merge) facts.set(merged, { known: false, into: plan.memberId });
      resolved.push({ event, plan });
    });
    return resolved;
  }

  /**
   * Claims new identities; true when another slice or processor got one first. Then the
   * claims this attempt did make are undone: the next attempt plans from fresh reads, and a
   * user id left pointing at the member this attempt meant to create (made from reads older
   * than the other claim) would make it join that member, which exists nowhere, instead of
   * the anonymous member it is (a member id that depended on timing; determinism test).
   */
  async #claim(resolved: readonly ResolvedEvent[]): Promise<boolean> {
    const claims = new Map<string, { ref: IdentityRef; memberId: string }>();
    for (const { plan } of resolved) for (const ref of plan.link) if (!claims.has(ref.key)) claims.set(ref.key, { ref, memberId: plan.memberId });
    if (claims.size === 0) return false;
    const list = [...claims.values()];
    const results = await this.#redis.execOrThrow(list.map(({ ref, memberId }) => ['SET', this.#keys.identity(ref.kind, ref.hash), memberId, 'NX']));
    const refused = list.filter((_, i) => results[i] !== 'OK');
    if (refused.length === 0) return false;
    const holders = (await this.#redis.call('MGET', ...refused.map((c) => this.#keys.identity(c.ref.kind, c.ref.hash)))) as (string | null)[];
    const lost = refused.some((claim, i) => holders[i] !== claim.memberId);
    const made = list.filter((_, i) => results[i] === 'OK');
    if (lost && made.length > 0)
      await this.#redis.execOrThrow(
        made.map(({ ref, memberId }): RedisCommand => ['EVALSHA', this.#releaseClaim, 1, this.#keys.identity(ref.kind, ref.hash), memberId]),
      );
    return lost;
  }

  /** After a merge, the merged member's identities point at the member it merged into. */
  async repoint(identities: readonly string[], memberId: string): Promise<void> {
    if (identities.length === 0) return;
    const commands: RedisCommand[] = identities.map((identity) => {
      const separator = identity.indexOf(':');
      return ['SET', this.#keys.identity(identity.slice(0, separator), identity.slice(separator + 1)), memberId];
    });
    await this.#redis.execOrThrow(commands);
  }
}
