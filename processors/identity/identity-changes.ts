import type { IdentityChangeRecord } from '../../schemas/records.ts';
import type { ResolvedEvent } from './resolver.ts';

/** The links, merges and refused links the resolution of these events made. */
export function identityChangesOf(resolved: readonly ResolvedEvent[]): IdentityChangeRecord[] {
  const changes: IdentityChangeRecord[] = [];
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
