import type { SourceRecord } from './batch-processor.ts';

interface Queued {
  readonly record: SourceRecord;
  readonly fetchedAt: number;
}

/** Records taken for applying, from one or more partitions; hand it back to `release`. */
export interface Slice {
  /** Records left waiting by an earlier slice first, then the rest merged by record time; in offset order within each partition. */
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
  /** Per partition, the record time of the last record queued. */
  readonly #lastTime = new Map<number, number>();
  readonly #busy = new Set<number>();
  /** Partitions held back (a link waits for another partition): not taken again before this time. */
  readonly #notBefore = new Map<number, number>();
  /**
   * Partitions held back, with the count of slices ended when they were: while other
   * slices are in flight, not taken again before one of those ends (what they wait for
   * moves only then; deciding their links again meanwhile would decode and plan the same
   * records for nothing).
   */
  readonly #heldAtEnded = new Map<number, number>();
  /** Slices ended so far. */
  #ended = 0;
  /** Per partition, how many of its queued records a slice left for later. */
  readonly #left = new Map<number, number>();
  #size = 0;
  /** Slices taken and not released yet. */
  #slices = 0;

  get size(): number {
    return this.#size;
  }

  /**
   * Queued records, less those left waiting for other partitions: what fetching waits on.
   * Records that wait for other partitions must not stop those partitions being fetched.
   */
  get backlog(): number {
    let left = 0;
    for (const count of this.#left.values()) left += count;
    return this.#size - left;
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
    const last = fresh.at(-1) as SourceRecord;
    this.#next.set(partition, BigInt(last.offset) + 1n);
    this.#lastTime.set(partition, last.timestamp);
    this.#size += fresh.length;
  }

  /** The offset after the last record fetched from the partition (undefined: none yet). */
  fetchedThrough(partition: number): bigint | undefined {
    return this.#next.get(partition);
  }

  /** The record time of the last record fetched from the partition (undefined: none yet). */
  lastFetchedTime(partition: number): number | undefined {
    return this.#lastTime.get(partition);
  }

  /** Whether the slice's part was taken from the partition's queue now (not one dropped since, when the partition was given away). */
  holds(part: Slice['parts'][number]): boolean {
    return this.#queues.get(part.partition) === part.queue;
  }

  /** Whether records of the partition wait or are being applied. */
  pending(partition: number): boolean {
    return this.#busy.has(partition) || (this.#queues.get(partition)?.length ?? 0) > 0;
  }

  /** Whether the only records queued for the partition are those left waiting at links (and none is being applied). */
  onlyLeftWaiting(partition: number): boolean {
    const left = this.#left.get(partition) ?? 0;
    return !this.#busy.has(partition) && left > 0 && (this.#queues.get(partition)?.length ?? 0) === left;
  }

  /** When the earliest partition held back may be taken again (undefined: none is held back). */
  nextReadyAt(): number | undefined {
    let next: number | undefined;
    // Those waiting for a slice in flight are taken once it is released (its caller wakes the workers then), not
    // at their time: a worker woken at a time already past would spin until the slice ends.
    for (const [partition, at] of this.#notBefore) if (!this.#waitsForSlice(partition) && (next === undefined || at < next)) next = at;
    return next;
  }

  /**
   * Up to `max` records of partitions not in a slice nor held back at `now`, merged by
   * record time (ingest's receive time) the way Kafka Streams picks the partition with
   * the oldest head record, so partitions advance together in receive time and a link
   * waiting for another partition finds it past (docs/processors.md, "Order across
   * partitions"). The merge stops at the horizon: the latest record time every queued
   * partition has fetched (held ones aside), past which a partition whose next records
   * are not fetched yet could still have earlier ones. When nothing is within it, the
   * partitions bounding it are in other slices (then nothing is taken until one ends) or
   * waiting for another partition (then the slice goes past it, so that one can pass).
   * `unfetched` names partitions with nothing queued whose next records are still to be
   * fetched, with the record time they were fetched up to (-Infinity: nothing yet): the
   * horizon stops there too, and nothing is taken past it until their records come, so
   * a backlog is not applied far ahead of partitions its first fetches did not reach
   * (their links would all wait, and be taken and decided again with every slice).
   * Of `spread` concurrent slices, one spans its share of the ready partitions (those
   * furthest behind), leaving the rest to the slices not taken yet. Undefined when
   * nothing is ready.
   */
  take(max: number, now: number, spread = 1, unfetched: ReadonlyMap<number, number> = new Map()): Slice | undefined {
    const ready: { partition: number; queue: Queued[] }[] = [];
    let horizon = Number.POSITIVE_INFINITY;
    for (const [partition, queue] of this.#queues) {
      if (queue.length === 0) continue;
      const notBefore = this.#notBefore.get(partition);
      if (notBefore === undefined) horizon = Math.min(horizon, (queue.at(-1) as Queued).record.timestamp);
      if (this.#busy.has(partition) || (notBefore !== undefined && (notBefore > now || this.#waitsForSlice(partition)))) continue;
      ready.push({ partition, queue });
    }
    if (ready.length === 0) return undefined;
    let fetchBound = Number.POSITIVE_INFINITY;
    for (const [partition, fetchedUpTo] of unfetched) if ((this.#queues.get(partition)?.length ?? 0) === 0) fetchBound = Math.min(fetchBound, fetchedUpTo);
    horizon = Math.min(horizon, fetchBound);
    ready.sort((a, b) => headTime(a.queue) - headTime(b.queue) || a.partition - b.partition);
    const chosen = ready.slice(0, Math.ceil(ready.length / Math.max(1, spread - this.#slices)));
    if (headTime((chosen[0] as (typeof chosen)[number]).queue) > horizon) {
      // The partitions bounding it are in other slices, waiting for another, or still to be fetched: wait for those
      // slices or that fetch, else go past it.
      if (this.#slices > 0 || fetchBound === horizon) return undefined;
      horizon = Number.POSITIVE_INFINITY;
    }
    // Records left waiting come first and whole (whatever the size and horizon): what waits is decided for all of
    // them at once, and they do not count against the slice, so the records behind them still go on.
    const records: SourceRecord[] = [];
    const fetchedAt: number[] = [];
    const counts = chosen.map(({ partition, queue }) => {
      const left = this.#left.get(partition) ?? 0;
      for (let i = 0; i < left; i++) {
        const queued = queue[i] as Queued;
        records.push(queued.record);
        fetchedAt.push(queued.fetchedAt);
      }
      return left;
    });
    const leftTaken = records.length;
    while (records.length - leftTaken < max) {
      let next = -1;
      let nextTime = Number.POSITIVE_INFINITY;
      chosen.forEach(({ queue }, i) => {
        const queued = queue[counts[i] as number];
        if (queued !== undefined && queued.record.timestamp < nextTime) {
          next = i;
          nextTime = queued.record.timestamp;
        }
      });
      if (next === -1 || nextTime > horizon) break;
      const queued = (chosen[next] as (typeof chosen)[number]).queue[counts[next] as number] as Queued;
      counts[next] = (counts[next] as number) + 1;
      records.push(queued.record);
      fetchedAt.push(queued.fetchedAt);
    }
    const parts: Slice['parts'][number][] = [];
    chosen.forEach(({ partition, queue }, i) => {
      const count = counts[i] as number;
      if (count === 0) return;
      this.#notBefore.delete(partition);
      this.#heldAtEnded.delete(partition);
      this.#left.delete(partition);
      this.#busy.add(partition);
      parts.push({ partition, count, lastOffset: (queue[count - 1] as Queued).record.offset, queue });
    });
    this.#slices++;
    return { records, fetchedAt, parts };
  }

  /**
   * Ends a slice: when applied, its records leave the queues; otherwise they are taken
   * again. Records of `held` (offsets per partition) were left for later: they stay in
   * front of their queue, in order, and their partition is not taken before `heldUntil`,
   * nor, while other slices are in flight, before one of them ends.
   */
  release(slice: Slice, applied: boolean, held: ReadonlyMap<number, ReadonlySet<string>> = new Map(), heldUntil = 0): void {
    this.#slices--;
    this.#ended++;
    for (const part of slice.parts) {
      this.#busy.delete(part.partition);
      // The partition may have been given away (and even back) meanwhile: then its queue is a new one.
      if (!applied || !this.holds(part)) continue;
      const waiting = held.get(part.partition);
      const taken = part.queue.splice(0, part.count);
      if (waiting === undefined) {
        this.#size -= taken.length;
        continue;
      }
      const kept = taken.filter((q) => waiting.has(q.record.offset));
      part.queue.unshift(...kept);
      this.#size -= taken.length - kept.length;
      this.#notBefore.set(part.partition, heldUntil);
      this.#heldAtEnded.set(part.partition, this.#ended);
      this.#left.set(part.partition, kept.length);
    }
  }

  /** Forgets partitions this replica no longer owns; their new owner reads them again from the committed offset. */
  keepOnly(owned: ReadonlySet<number>): void {
    for (const partition of new Set([...this.#queues.keys(), ...this.#next.keys()])) {
      if (owned.has(partition)) continue;
      this.#size -= this.#queues.get(partition)?.length ?? 0;
      this.#queues.delete(partition);
      this.#next.delete(partition);
      this.#lastTime.delete(partition);
      this.#notBefore.delete(partition);
      this.#heldAtEnded.delete(partition);
      this.#left.delete(partition);
    }
  }

  /** A partition held back waits for a slice in flight to end (none in flight: only for its time). */
  #waitsForSlice(partition: number): boolean {
    return this.#slices > 0 && this.#heldAtEnded.get(partition) === this.#ended;
  }
}

/** The record time of a queue's first record (the queue is not empty). */
function headTime(queue: readonly Queued[]): number {
  return (queue[0] as Queued).record.timestamp;
}
