import type { IdentityChangeRecord } from '../../schemas/records.ts';
import type { MemberState } from './member-state.ts';

/** A link refused to keep two known people apart: the identity ("kind:hash") and the member that holds it. */
export interface RefusedLink {
  readonly identity: string;
  readonly heldBy: string;
}

/** What in an event an identity change is dated and named by. */
interface Cause {
  readonly at: number;
  readonly messageId: string;
}

function split(identity: string): { kind: string; identityHash: string } {
  const separator = identity.indexOf(':');
  return { kind: identity.slice(0, separator), identityHash: identity.slice(separator + 1) };
}

/**
 * Adds the identities ("kind:hash") that point at the member and it does not list yet,
 * one `linked` change each. Decided by the member's own list, not by whether the identity
 * index pointed anywhere before: a replay after a crash finds its identities claimed
 * already, and must still link them.
 */
export function linkIdentities(state: MemberState, identities: readonly string[], cause: Cause): IdentityChangeRecord[] {
  const changes: IdentityChangeRecord[] = [];
  for (const identity of identities) {
    if (state.identities.includes(identity)) continue;
    state.identities.push(identity);
    changes.push({ action: 'linked', memberId: state.memberId, ...split(identity), otherMemberId: '', at: cause.at, messageId: cause.messageId });
  }
  return changes;
}

export function refusedLinks(memberId: string, refused: readonly RefusedLink[], cause: Cause): IdentityChangeRecord[] {
  return refused.map(({ identity, heldBy }) => ({
    action: 'refused',
    memberId,
    ...split(identity),
    otherMemberId: heldBy,
    at: cause.at,
    messageId: cause.messageId,
  }));
}

export function mergedMember(memberId: string, mergedId: string, cause: Cause): IdentityChangeRecord {
  return { action: 'merged', memberId, kind: '', identityHash: '', otherMemberId: mergedId, at: cause.at, messageId: cause.messageId };
}
