import type { OutboxEntry } from '../store/member-store.ts';

/**
 * Outbox entries this process is publishing and has not yet removed from Redis. A unit
 * of work that reads a member's outbox while an earlier unit is still publishing it
 * leaves those entries to that unit: a run without a crash publishes each output once.
 * Entries left by a process that died are not here, so whoever reads them next
 * publishes them (again, with the same ids).
 */
export class OutboxInFlight {
  /** Per member, each entry's stored text and how many copies of it are being published. */
  readonly #entries = new Map<string, Map<string, number>>();

  /** The entries of `stored` that no unit of this process is publishing. */
  notInFlight(memberId: string, stored: readonly OutboxEntry[]): OutboxEntry[] {
    const taken = this.#entries.get(memberId);
    if (!taken || stored.length === 0) return [...stored];
    const left = new Map(taken);
    return stored.filter((entry) => {
      const text = JSON.stringify(entry);
      const copies = left.get(text) ?? 0;
      if (copies === 0) return true;
      left.set(text, copies - 1);
      return false;
    });
  }

  take(outboxes: ReadonlyMap<string, readonly OutboxEntry[]>): void {
    for (const [memberId, entries] of outboxes) {
      if (entries.length === 0) continue;
      let taken = this.#entries.get(memberId);
      if (!taken) {
        taken = new Map();
        this.#entries.set(memberId, taken);
      }
      for (const entry of entries) {
        const text = JSON.stringify(entry);
        taken.set(text, (taken.get(text) ?? 0) + 1);
      }
    }
  }

  /** Published and removed, or given up on (they stay in Redis for a later unit). */
  release(outboxes: ReadonlyMap<string, readonly OutboxEntry[]>): void {
    for (const [memberId, entries] of outboxes) {
      const taken = this.#entries.get(memberId);
      if (!taken) continue;
      for (const entry of entries) {
        const text = JSON.stringify(entry);
        const copies = (taken.get(text) ?? 0) - 1;
        if (copies > 0) taken.set(text, copies);
        else taken.delete(text);
      }
      if (taken.size === 0) this.#entries.delete(memberId);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}
