/**
 * Offsets to commit, per partition. Commits run one after another; while one is
 * retried (kafkajs retries a commit refused during a rebalance for seconds), the next
 * may take a later offset of the same partition. A failed commit gives its offsets back
 * only where no later commit took the partition since: giving back an earlier offset
 * would commit it after the later one, moving the group back, and the records between
 * them, applied and no longer queued, would never be applied here again (the partition
 * would stop short of its end).
 */
export class PendingCommits {
  /** Per partition, the next offset to commit (its slices are complete). */
  readonly #pending = new Map<number, string>();
  /** Per partition, the offset the latest commit took. */
  readonly #latestTaken = new Map<number, string>();

  set(partition: number, offset: string): void {
    this.#pending.set(partition, offset);
  }

  /** The offsets for the next commit; they are no longer pending. */
  take(): [number, string][] {
    const covered = [...this.#pending];
    this.#pending.clear();
    for (const [partition, offset] of covered) this.#latestTaken.set(partition, offset);
    return covered;
  }

  /** A commit of `covered` failed: its offsets are pending again unless something later replaced them. */
  failed(covered: readonly (readonly [number, string])[], owned: ReadonlySet<number>): void {
    for (const [partition, offset] of covered)
      if (!this.#pending.has(partition) && owned.has(partition) && this.#latestTaken.get(partition) === offset) this.#pending.set(partition, offset);
  }

  /** Forgets partitions given away: their new owner commits them. */
  keepOnly(owned: ReadonlySet<number>): void {
    for (const partition of [...this.#pending.keys(), ...this.#latestTaken.keys()]) {
      if (owned.has(partition)) continue;
      this.#pending.delete(partition);
      this.#latestTaken.delete(partition);
    }
  }
}
