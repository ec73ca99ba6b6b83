import { HistoryWriter } from '../../history/history-writer.ts';
import type { Warehouse } from '../../lib/warehouse/warehouse.ts';
import type { IdentityChangeRecord } from '../../schemas/records.ts';

/** Member `merged` was folded into member `into` at `at` (an anonymous visitor who logged in). */
export interface Merge {
  readonly merged: string;
  readonly into: string;
  readonly at: number;
}

/**
 * Merges among members `${prefix}0`, `${prefix}1`, ...: every tenth member into the next one,
 * and a chain of two (3 into 4, 4 into 5), at times `at(i)`.
 */
export function someMerges(prefix: string, members: number, at: (i: number) => number): Merge[] {
  const pairs: [number, number][] = [
    [3, 4],
    [4, 5],
  ];
  for (let i = 10; i + 1 < members; i += 10) pairs.push([i, i + 1]);
  return pairs.map(([from, to], i) => ({ merged: `${prefix}${from}`, into: `${prefix}${to}`, at: at(i) }));
}

/** The identity changes the processors publish for these merges (rows of identity_changes). */
export function mergeChanges(merges: readonly Merge[]): IdentityChangeRecord[] {
  return merges.map((m, i) => ({ action: 'merged', memberId: m.into, kind: '', identityHash: '', otherMemberId: m.merged, at: m.at, messageId: `merge-${i}` }));
}

/** The member a member id finally belongs to, following chains of merges (the reference for analyses). */
export function personOf(merges: readonly Merge[]): (member: string) => string {
  const into = new Map(merges.map((m) => [m.merged, m.into]));
  return (member) => {
    let current = member;
    for (let hops = 0; into.has(current) && hops < 100; hops++) current = into.get(current) as string;
    return current;
  };
}

/** Writes the merges to identity_changes as the processors do. */
export async function writeMerges(warehouse: Warehouse, merges: readonly Merge[]): Promise<void> {
  await new HistoryWriter(warehouse).write({ events: [], identityChanges: mergeChanges(merges), transitions: [], segmentChanges: [], triggerFirings: [] });
}
