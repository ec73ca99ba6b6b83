import { describe, expect, it } from 'vitest';
import type { SourceRecord } from '../../../processors/pipeline/batch-processor.ts';
import { PartitionQueues } from '../../../processors/pipeline/partition-queues.ts';

/** Records of a partition at offsets from, from + 1, ...; record times `times` (default: their offsets). */
const records = (partition: number, from: number, count: number, times?: readonly number[]): SourceRecord[] =>
  Array.from({ length: count }, (_, i) => ({ partition, offset: String(from + i), timestamp: times?.[i] ?? from + i, key: null, value: null }));
const offsets = (slice: { records: readonly SourceRecord[] } | undefined) => slice?.records.map((r) => `${r.partition}@${r.offset}`);
type Taken = NonNullable<ReturnType<PartitionQueues['take']>>;

describe('PartitionQueues', () => {
  it('takes up to a slice across partitions merged by record time, each partition in order, and a busy partition is not taken again', () => {
    const queues = new PartitionQueues();
    queues.add(0, records(0, 10, 3, [100, 300, 500]), 1);
    queues.add(1, records(1, 5, 2, [200, 400]), 2);
    const first = queues.take(4, 0) as Taken;
    expect(offsets(first)).toEqual(['0@10', '1@5', '0@11', '1@6']);
    expect(first.parts.map((p) => [p.partition, p.count, p.lastOffset])).toEqual([
      [0, 2, '11'],
      [1, 2, '6'],
    ]);
    expect(first.fetchedAt).toEqual([1, 2, 1, 2]);
    queues.add(0, records(0, 13, 1, [600]), 3);
    expect(queues.take(10, 0)).toBeUndefined(); // both partitions are in the slice in flight
    queues.release(first, true);
    expect(queues.size).toBe(2);
    expect(offsets(queues.take(10, 0))).toEqual(['0@12', '0@13']);
  });

  it("a slice of a partition given away (and given back) meanwhile no longer holds the partition's queue", () => {
    const queues = new PartitionQueues();
    queues.add(0, records(0, 10, 3), 1);
    const inFlight = queues.take(10, 0) as Taken;
    expect(inFlight.parts.every((part) => queues.holds(part))).toBe(true);
    queues.keepOnly(new Set([1]));
    // Given back: read again from the committed offset into a new queue.
    queues.add(0, records(0, 10, 3), 2);
    expect(queues.holds(inFlight.parts[0] as Taken['parts'][number])).toBe(false);
    queues.release(inFlight, true);
    expect(queues.size).toBe(3);
  });

  it('keeps offset order within a partition whatever its record times (a late record is not moved up)', () => {
    const queues = new PartitionQueues();
    queues.add(0, records(0, 0, 3, [100, 50, 300]), 1);
    queues.add(1, records(1, 0, 2, [60, 300]), 1);
    expect(offsets(queues.take(10, 0))).toEqual(['1@0', '0@0', '0@1', '1@1', '0@2']);
  });

  it('stops at the horizon, the latest time every queued partition has fetched, unless nothing is within it', () => {
    const queues = new PartitionQueues();
    queues.add(0, records(0, 0, 3, [100, 200, 900]), 1);
    queues.add(1, records(1, 0, 2, [150, 250]), 1);
    const first = queues.take(10, 0) as Taken;
    expect(offsets(first)).toEqual(['0@0', '1@0', '0@1', '1@1']); // 0@2 at 900 is past 250: partition 1 may have records before it
    queues.release(first, true);
    expect(offsets(queues.take(10, 0))).toEqual(['0@2']); // partition 1 has nothing queued: no horizon from it
  });

  it('stops also where a partition with nothing queued was fetched up to, and waits for its records rather than go past', () => {
    const queues = new PartitionQueues();
    queues.add(0, records(0, 0, 3, [100, 200, 900]), 1);
    // Partition 1 was fetched up to 150 and has nothing queued; partition 2 was not fetched at all yet.
    const first = queues.take(10, 0, 1, new Map([[1, 150]])) as Taken;
    expect(offsets(first)).toEqual(['0@0']);
    queues.release(first, false);
    expect(queues.take(10, 0, 1, new Map([[2, Number.NEGATIVE_INFINITY]]))).toBeUndefined();
    // Once it is not waited for (its records came, or the wait ended), the slice goes on.
    expect(offsets(queues.take(10, 0, 1))).toEqual(['0@0', '0@1', '0@2']);
  });

  it('takes nothing past the horizon while the partitions bounding it are in another slice', () => {
    const queues = new PartitionQueues();
    queues.add(0, records(0, 0, 2, [100, 200]), 1);
    queues.add(1, records(1, 0, 2, [300, 400]), 1);
    const first = queues.take(10, 0, 2) as Taken;
    expect(offsets(first)).toEqual(['0@0', '0@1']);
    expect(queues.take(10, 0, 2)).toBeUndefined();
    queues.release(first, true);
    expect(offsets(queues.take(10, 0, 2))).toEqual(['1@0', '1@1']);
  });

  it('spreads over concurrent slices: each takes the partitions furthest behind among those free', () => {
    const queues = new PartitionQueues();
    for (const [partition, time] of [
      [0, 400],
      [1, 100],
      [2, 300],
      [3, 200],
    ] as const)
      queues.add(partition, records(partition, 0, 2, [time, 1_000]), 1);
    const first = queues.take(100, 0, 2) as Taken;
    expect(first.parts.map((p) => p.partition)).toEqual([1, 3]);
    expect(queues.take(100, 0, 2)?.parts.map((p) => p.partition)).toEqual([2, 0]);
  });

  it('gives a failed slice back whole, and ignores a refetch of records already queued', () => {
    const queues = new PartitionQueues();
    queues.add(0, records(0, 0, 3), 1);
    const slice = queues.take(10, 0);
    queues.release(slice as Taken, false);
    queues.add(0, records(0, 1, 4), 2); // 1 and 2 again, then 3 and 4
    expect(offsets(queues.take(10, 0))).toEqual(['0@0', '0@1', '0@2', '0@3', '0@4']);
  });

  it('forgets partitions given away; a slice in flight from before does not touch the queue of a partition given back', () => {
    const queues = new PartitionQueues();
    queues.add(0, records(0, 0, 2), 1);
    queues.add(1, records(1, 0, 2), 1);
    const inFlight = queues.take(1, 0) as Taken;
    queues.keepOnly(new Set([1]));
    expect(queues.size).toBe(2);
    queues.keepOnly(new Set([0, 1]));
    queues.add(0, records(0, 0, 2), 2); // read again from the committed offset
    queues.release(inFlight, true);
    expect(queues.size).toBe(4);
    expect(offsets(queues.take(10, 0))?.sort()).toEqual(['0@0', '0@1', '1@0', '1@1']);
  });

  it('keeps the records a slice left for later in front of their queue, and takes them again only after the wait', () => {
    const queues = new PartitionQueues();
    queues.add(0, records(0, 0, 4), 1);
    queues.add(1, records(1, 0, 2, [0, 3]), 1);
    const slice = queues.take(10, 0) as Taken;
    expect(slice.records).toHaveLength(6);
    queues.release(slice, true, new Map([[0, new Set(['1', '3'])]]), 100);
    expect(queues.size).toBe(2);
    expect(queues.nextReadyAt()).toBe(100);
    expect(queues.take(10, 99)).toBeUndefined();
    expect(queues.pending(0)).toBe(true);
    queues.add(0, records(0, 4, 1), 2);
    expect(offsets(queues.take(10, 100))).toEqual(['0@1', '0@3', '0@4']);
    expect(queues.nextReadyAt()).toBeUndefined();
  });

  it('takes a partition with records left waiting again only once another slice in flight has ended', () => {
    const queues = new PartitionQueues();
    queues.add(0, records(0, 0, 2), 1);
    queues.add(1, records(1, 0, 2, [0, 1]), 1);
    const other = queues.take(10, 0, 2) as Taken; // spread over two slices: partition 0 (furthest behind) here
    const waiting = queues.take(10, 0, 2) as Taken;
    expect([other.parts.map((p) => p.partition), waiting.parts.map((p) => p.partition)]).toEqual([[0], [1]]);
    queues.release(waiting, true, new Map([[1, new Set(['0', '1'])]]), 10);
    // What partition 1 waits for can move only when the slice of partition 0 ends; no time to wake up at meanwhile.
    expect(queues.take(10, 50)).toBeUndefined();
    expect(queues.nextReadyAt()).toBeUndefined();
    queues.release(other, true);
    expect(queues.nextReadyAt()).toBe(10);
    expect(offsets(queues.take(10, 50))).toEqual(['1@0', '1@1']);
  });

  it('takes the records left waiting whole, and up to a slice of others behind them', () => {
    const queues = new PartitionQueues();
    queues.add(0, records(0, 0, 5), 1);
    const slice = queues.take(10, 0) as Taken;
    queues.release(slice, true, new Map([[0, new Set(['1', '2', '4'])]]), 0);
    queues.add(0, records(0, 5, 3), 2);
    expect(queues.onlyLeftWaiting(0)).toBe(false);
    expect(offsets(queues.take(2, 0))).toEqual(['0@1', '0@2', '0@4', '0@5', '0@6']);
  });
});
