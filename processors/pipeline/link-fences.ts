import type { Frontier } from '../store/partition-progress.ts';

/** An event of a slice, as far as links across partitions care. */
export interface SliceEvent {
  readonly partition: number;
  readonly receivedAt: number;
  /** The members it changes (the one it resolves to, and those it merges in). */
  readonly members: readonly string[];
  /**
   * When it links or merges identities: the partitions of its anonymous identities
   * (anonymousId, alias previousId) other than its own; empty otherwise.
   */
  readonly linksAcross: readonly number[];
}

/**
 * Whether partition `other` has applied every record received before `at` that matters
 * to a link on `partition` received at `at` and changing `members`: it has applied a
 * record received after `at` (so every earlier one, records in receive order) and none
 * of those members has events waiting there since before `at`. When one of them waits
 * there since exactly `at` (two links received together, each waiting for the other's
 * partition), the lower partition goes first.
 */
export function passed(frontier: Frontier | undefined, at: number, members: readonly string[], partition: number, other: number): boolean {
  if (frontier === undefined) return false;
  let heldSince: number | undefined;
  for (const member of members) {
    const since = frontier.held.get(member);
    if (since !== undefined && (heldSince === undefined || since < heldSince)) heldSince = since;
  }
  if (heldSince !== undefined && heldSince < at) return false;
  if (heldSince === at) return partition < other;
  return frontier.receivedAt > at;
}

/**
 * The events of a slice (indexes, in slice order) that wait: each link whose other
 * partitions have not passed it, and every later event of its partition for a member
 * such a link changes, so those keep their order. Events of other partitions never wait
 * for it: the link waits for them (the anonymous events it folds in are there). A slice
 * is merged by receive time, so a partition passes a link also by the records of it the
 * slice applies before the link. A partition's waiting records lead its queue and come
 * whole in any slice that takes it. Returns also each partition's frontier after the slice.
 */
export function heldEvents(events: readonly SliceEvent[], stored: ReadonlyMap<number, Frontier>): { held: Set<number>; frontiers: Map<number, Frontier> } {
  const held = new Set<number>();
  // Per partition of the slice: the latest receive time applied, the members applied, and those waiting (since when).
  const applied = new Map<number, { receivedAt: number; members: Set<string> }>();
  const waiting = new Map<number, Map<string, number>>();
  const frontierOf = (partition: number): Frontier | undefined => {
    const before = stored.get(partition);
    const appliedHere = applied.get(partition);
    const waitingHere = waiting.get(partition);
    if (appliedHere === undefined && waitingHere === undefined) return before;
    const members = new Map(waitingHere);
    // Members that waited before this slice and have not come up in it yet still wait.
    for (const [member, since] of before?.held ?? []) if (!appliedHere?.members.has(member) && !members.has(member)) members.set(member, since);
    const receivedAt = Math.max(appliedHere?.receivedAt ?? Number.NEGATIVE_INFINITY, before?.receivedAt ?? Number.NEGATIVE_INFINITY);
    return { receivedAt, held: members };
  };
  events.forEach((event, index) => {
    const waitingHere = waiting.get(event.partition);
    const waits =
      (waitingHere !== undefined && event.members.some((member) => waitingHere.has(member))) ||
      !event.linksAcross.every((other) => passed(frontierOf(other), event.receivedAt, event.members, event.partition, other));
    if (!waits) {
      const appliedHere = applied.get(event.partition) ?? { receivedAt: event.receivedAt, members: new Set<string>() };
      appliedHere.receivedAt = Math.max(appliedHere.receivedAt, event.receivedAt);
      for (const member of event.members) appliedHere.members.add(member);
      applied.set(event.partition, appliedHere);
      return;
    }
    held.add(index);
    const members = waitingHere ?? new Map<string, number>();
    for (const member of event.members) if (!members.has(member)) members.set(member, event.receivedAt);
    waiting.set(event.partition, members);
  });
  // After the slice a partition in it waits exactly for its records held now: they were all in it (they lead its
  // queue and come whole), so members that waited before and came up under another id (merged) wait no longer.
  const frontiers = new Map<number, Frontier>();
  for (const partition of new Set([...applied.keys(), ...waiting.keys()])) {
    const { receivedAt } = frontierOf(partition) as Frontier;
    frontiers.set(partition, { receivedAt, held: waiting.get(partition) ?? new Map() });
  }
  return { held, frontiers };
}
