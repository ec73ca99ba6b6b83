import type { IdentityChangeRecord } from '../../schemas/records.ts';
import type { ResolvedEvent } from './resolver.ts';

/** The links, merges and refused links the resolution of one event made. */
export function identityChangesOf({ event, plan }: ResolvedEvent): IdentityChangeRecord[] {
  if (plan.link.length === 0 && plan.merge.length === 0 && plan.refused.length === 0) return [];
  const base = { memberId: plan.memberId, at: event.timestamp, messageId: event.messageId };
  return [
    ...plan.link.map((ref) => ({ ...base, action: 'linked' as const, kind: ref.kind, identityHash: ref.hash, otherMemberId: '' })),
    ...plan.merge.map((merged) => ({ ...base, action: 'merged' as const, kind: '', identityHash: '', otherMemberId: merged })),
    ...plan.refused.map((refusal) => ({
      ...base,
      action: 'refused' as const,
      kind: refusal.identity.kind,
      identityHash: refusal.identity.hash,
      otherMemberId: refusal.heldBy,
    })),
  ];
}
