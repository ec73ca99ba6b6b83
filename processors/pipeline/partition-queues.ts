import type { SourceRecord } from './batch-processor.ts';

interface Queued {
  readonly record: SourceRecord;
  readonly fetchedAt: number;
}

/** Records taken for applying, from one or more partitions; hand it back to `release`. */
export interface Slice {
  /** In partition order within each partition. */
  readonly records: readonly SourceRecord[];
  /** When each record was fetched (same order as records). */
  readonly fetchedAt: readonly number[];
  /** Per partition: how many records were taken and the last offset taken. */
  readonly parts: readonly { readonly partition: number; readonly count: number; readonly lastOffset: string; readonly queue: Queued[] }[];
}

/**
 * Records fetched from Kafka, waiting per partition to be applied. Fetching and applying
 * are decoupled: a fetch may bring very few records per partition (a broker may return
 * one stored batch at a time), while applying costs a few Redis round trips whatever
 * the size, so a worker takes up to a full slice from what several fetches of several
 * partitions brought. Order within a partition is kept, and a partition is in at most
 * one slice at a time.
 */
export class PartitionQueues {
  readonly #queues = new Map<number, Queued[]>();
  /** Per partition, the offset after the last record queued: a refetch of earlier records is ignored. */
  readonly #next = new Map<number, bigint>();
  readonly #busy = new Set<number>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(partition: number, records: readonly SourceRecord[], fetchedAt: number): void {
    const next = this.#next.get(partition);
    const fresh = next === undefined ? records : records.filter((r) => BigInt(r.offset) >= next);
    if (fresh.length === 0) return;
    let queue = this.#queues.get(partition);
    if (!queue) {
      queue = [];
      this.#queues.set(partition, queue);
    }
    for (const record of fresh) queue.push({ record, fetchedAt });
    this.#next.set(partition, BigInt((fresh.at(-1) as SourceRecord).offset) + 1n);
    this.#size += fresh.length;
  }

  /** Whether records of the partition wait or are being applied. */
  pending(partition: number): boolean {
    return this.#busy.has(partition) || (this.#queues.get(partition)?.length ?? 0) > 0;
  }

  /** Up to `max` of the oldest records of partitions not in a slice; undefined when there are none. */
  take(max: number): Slice | undefined {
    const records: SourceRecord[] = [];
    const fetchedAt: number[] = [];
    const parts: Slice['parts'][number][] = [];
    for (const [partition, queue] of this.#queues) {
      if (records.length >= max) break;
      if (this.#busy.has(partition) || queue.length === 0) continue;
      const taken = queue.slice(0, max - records.length);
      for (const q of taken) {
        records.push(q.record);
        fetchedAt.push(q.fetchedAt);
      }
      parts.push({ partition, count: taken.length, lastOffset: (taken.at(-1) as Queued).record.offset, queue });
      this.#busy.add(partition);
    }
    // Partitions just taken go to the back, so a long queue cannot starve the others.
    for (const { partition, queue } of parts) {
      this.#queues.delete(partition);
      this.#queues.set(partition, queue);
    }
    return parts.length === 0 ? undefined : { records, fetchedAt, parts };
  }

  /** Ends a slice: when applied, its records leave the queues; otherwise they are taken again. */
  release(slice: Slice, applied: boolean): void {
    for (const part of slice.parts) {
      this.#busy.delete(part.partition);
      // The partition may have been given away (and even back) meanwhile: then its queue is a new one.
      if (applied && this.#queues.get(part.partition) === part.queue) this.#size -= part.queue.splice(0, part.count).length;
    }
  }

  /** Forgets partitions this replica no longer owns; their new owner reads them again from the committed offset. */
  keepOnly(owned: ReadonlySet<number>): void {
    for (const partition of new Set([...this.#queues.keys(), ...this.#next.keys()])) {
      if (owned.has(partition)) continue;
      this.#size -= this.#queues.get(partition)?.length ?? 0;
      this.#queues.delete(partition);
      this.#next.delete(partition);
    }
  }
}
