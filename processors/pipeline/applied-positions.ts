/**
 * Per partition this replica owns: how far its slices took records (`takenThrough`) and
 * the offset after the last record applied with none left waiting before it (`position`,
 * what is committed). Records left waiting at links stay in front of their queue, so a
 * slice that applies only them must not move the position back below what earlier
 * slices took. A rebalance that keeps a partition keeps its queue, and so its positions.
 */
export class AppliedPositions {
  readonly #position = new Map<number, bigint>();
  readonly #takenThrough = new Map<number, bigint>();

  /** A slice applied the partition's records up to `lastOffset`, but `waiting`; returns the offset to commit. */
  applied(partition: number, lastOffset: string, waiting: ReadonlySet<string> | undefined): bigint {
    const end = this.#takenEnd(partition, lastOffset);
    this.#takenThrough.set(partition, end);
    const next = waiting === undefined || waiting.size === 0 ? end : lowestOffset(waiting);
    this.#position.set(partition, next);
    return next;
  }

  /** The position `applied` would move the partition to, without moving it. */
  positionAfter(partition: number, lastOffset: string, waiting: ReadonlySet<string> | undefined): bigint {
    return waiting === undefined || waiting.size === 0 ? this.#takenEnd(partition, lastOffset) : lowestOffset(waiting);
  }

  #takenEnd(partition: number, lastOffset: string): bigint {
    const taken = BigInt(lastOffset) + 1n;
    const through = this.#takenThrough.get(partition);
    return through === undefined || taken > through ? taken : through;
  }

  /** Where the partition is, before any slice: where the group reads on from. */
  startAt(partition: number, offset: bigint): void {
    if (!this.#position.has(partition)) this.#position.set(partition, offset);
  }

  position(partition: number): bigint | undefined {
    return this.#position.get(partition);
  }

  takenThrough(partition: number): bigint | undefined {
    return this.#takenThrough.get(partition) ?? this.#position.get(partition);
  }

  /** Forgets partitions given away: their new owner reads them again from the committed offset. */
  keepOnly(owned: ReadonlySet<number>): void {
    for (const partition of [...this.#position.keys(), ...this.#takenThrough.keys()]) {
      if (owned.has(partition)) continue;
      this.#position.delete(partition);
      this.#takenThrough.delete(partition);
    }
  }
}

function lowestOffset(offsets: ReadonlySet<string>): bigint {
  let lowest: bigint | undefined;
  for (const offset of offsets) if (lowest === undefined || BigInt(offset) < lowest) lowest = BigInt(offset);
  return lowest as bigint;
}
