import type { KeyedHash } from '../../domain/privacy/keyed-hash.ts';
import { hashKind } from '../../domain/privacy/personal-data.ts';
import { boundedMemo } from '../../lib/bounded-memo.ts';
import { parseJsonObject } from '../../lib/json.ts';
import type { EventRecord } from '../../schemas/records.ts';

/** One identity of a person: its kind and the keyed hash of its value. */
export interface IdentityRef {
  readonly kind: string;
  readonly hash: string;
  /** "kind:hash": the identity as stored (member identities, index keys) and compared. */
  readonly key: string;
  /** Only looked up, never created: an alias previousId may be an earlier user id, or not. */
  readonly lookupOnly?: boolean;
}

export const identityRef = (kind: string, hash: string): IdentityRef => ({ kind, hash, key: `${kind}:${hash}` });

/** The ref of an identity from its value as sent (hashed with the key). */
export type IdentityRefOf = (kind: string, value: string) => IdentityRef;

/**
 * Refs by value, remembered (bounded): the same visitor's events give the very same ref,
 * whose key string is made (and hashed by maps) once rather than per event.
 */
export function identityRefs(hash: KeyedHash, cacheSize = 100_000): IdentityRefOf {
  return boundedMemo((kind, value) => identityRef(kind, hash(hashKind(kind), value)), cacheSize);
}

/** Traits that identify a person, by default; each becomes an identity kind of its own. */
export const DEFAULT_IDENTITY_TRAITS: readonly string[] = ['phone', 'email', 'wechat_openid', 'wechat_unionid'];

/** The device id in an event's context (context.device.id), if it names one. */
export function deviceIdIn(context: string): string | null {
  // Most events carry no device id; skip parsing their context.
  if (!context.includes('"device"')) return null;
  const device = (parseJsonObject(context).device as { id?: unknown } | undefined)?.id;
  return typeof device === 'string' && device !== '' ? device : null;
}

/**
 * The identities an event names: its user id apart, the rest (anonymous id, alias previousId, identity traits, device id) together.
 * `deviceIdOf` reads the device id from the context (a caller may remember answers: a visitor's events repeat one context).
 */
export function identitiesOf(
  event: EventRecord,
  refOf: IdentityRefOf,
  identityTraits: readonly string[],
  deviceIdOf: (context: string) => string | null = deviceIdIn,
): { user: IdentityRef | null; others: IdentityRef[] } {
  const user = event.userId ? refOf('user', event.userId) : null;
  const others: IdentityRef[] = [];
  if (event.anonymousId) others.push(refOf('anon', event.anonymousId));
  if (event.type === 'alias' && event.previousId) {
    // previousId is usually an anonymous id, sometimes an earlier user id.
    others.push(refOf('anon', event.previousId));
    others.push({ ...refOf('user', event.previousId), lookupOnly: true });
  }
  if (event.type === 'identify') {
    const traits = parseJsonObject(event.traits);
    for (const trait of identityTraits) {
      const value = traits[trait];
      if (typeof value === 'string' && value.trim() !== '') others.push(refOf(trait, value));
      else {
        // Hashed at ingest (docs/privacy.md): the hash is the identity's, as a lookup by the value computes it.
        const hashed = traits[`${trait}_hash`];
        if (typeof hashed === 'string' && hashed !== '') others.push(identityRef(trait, hashed));
      }
    }
  }
  const device = deviceIdOf(event.context);
  if (device !== null) others.push(refOf('device', device));
  return { user, others };
}

export interface MemberFacts {
  /** The member has a user id (a known person). */
  readonly known: boolean;
}

export interface ResolutionPlan {
  readonly memberId: string;
  /** Identities to point at the member (not yet pointing anywhere): claimed in the identity index. */
  readonly link: IdentityRef[];
  /** The event's identities that point at the member, linked now or before (a replay after a crash finds its own claims). */
  readonly owned: IdentityRef[];
  /** Anonymous members whose state folds into this member, once. */
  readonly merge: string[];
  /** Links refused to keep two known people apart (merge protection). */
  readonly refused: { readonly identity: IdentityRef; readonly heldBy: string }[];
  readonly created: boolean;
}

/**
 * Which member an event belongs to. A user id decides when it is known; otherwise an
 * anonymous member the event's other identities point to becomes that user; otherwise a
 * new member is made. Anonymous members met along the way merge into the target. A
 * member that already has a user id is never merged into another (merge protection,
 * as Segment and PostHog do): the link is refused and recorded.
 */
export function planResolution(
  user: IdentityRef | null,
  others: readonly IdentityRef[],
  ownerOf: (ref: IdentityRef) => string | null,
  factsOf: (memberId: string) => MemberFacts,
  newMemberId: (ref: IdentityRef) => string,
): ResolutionPlan {
  // Runs once per event: plain loops, no throwaway arrays.
  const userOwner = user ? ownerOf(user) : null;
  const owners = others.map(ownerOf);
  let memberId: string;
  let created = false;
  if (userOwner) {
    memberId = userOwner;
  } else if (user) {
    // An anonymous member this person was before becomes them.
    const anonymous = owners.find((owner) => owner !== null && !factsOf(owner).known);
    memberId = anonymous ?? newMemberId(user);
    created = anonymous === undefined;
  } else {
    const first = owners.find((owner) => owner !== null);
    const origin = others[0];
    if (!first && !origin) throw new Error('an event with no identity cannot be resolved');
    memberId = first ?? newMemberId(origin as IdentityRef);
    created = first === undefined;
  }
  const link: IdentityRef[] = [];
  const owned: IdentityRef[] = [];
  const merge: string[] = [];
  const refused: { identity: IdentityRef; heldBy: string }[] = [];
  for (let i = user ? -1 : 0; i < others.length; i++) {
    const ref = i < 0 ? (user as IdentityRef) : (others[i] as IdentityRef);
    const owner = i < 0 ? userOwner : (owners[i] ?? null);
    if (owner === null) {
      if (!ref.lookupOnly) {
        link.push(ref);
        owned.push(ref);
      }
    } else if (owner === memberId) {
      owned.push(ref);
    } else {
      const known = factsOf(owner).known;
      if (known && user !== null) refused.push({ identity: ref, heldBy: owner });
      else if (!known && !merge.includes(owner)) merge.push(owner);
    }
  }
  return { memberId, link, owned, merge, refused, created };
}
