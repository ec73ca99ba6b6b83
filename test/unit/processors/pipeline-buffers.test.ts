import { describe, expect, it } from 'vitest';
import { BufferedHistory } from '../../../processors/history/buffered-history.ts';
import { type HistorySink, type PackedEvents, packEvents } from '../../../processors/history/history-writer.ts';
import type { SourceRecord } from '../../../processors/pipeline/batch-processor.ts';
import { PartitionQueues } from '../../../processors/pipeline/partition-queues.ts';
import { testEvent } from '../../harness/test-event.ts';

const records = (partition: number, from: number, count: number): SourceRecord[] =>
  Array.from({ length: count }, (_, i) => ({ partition, offset: String(from + i), key: null, value: null }));
const offsets = (slice: { records: readonly SourceRecord[] } | undefined) => slice?.records.map((r) => `${r.partition}@${r.offset}`);

describe('PartitionQueues', () => {
  it('takes up to a slice across partitions, keeping each partition in order, and a busy partition is not taken again', () => {
    const queues = new PartitionQueues();
    queues.add(0, records(0, 10, 3), 1);
    queues.add(1, records(1, 5, 2), 2);
    const first = queues.take(4);
    expect(offsets(first)).toEqual(['0@10', '0@11', '0@12', '1@5']);
    expect(first?.parts.map((p) => [p.partition, p.count, p.lastOffset])).toEqual([
      [0, 3, '12'],
      [1, 1, '5'],
    ]);
    expect(first?.fetchedAt).toEqual([1, 1, 1, 2]);
    queues.add(0, records(0, 13, 1), 3);
    expect(queues.take(10)).toBeUndefined(); // both partitions are in the slice in flight
    queues.release(first as NonNullable<typeof first>, true);
    expect(queues.size).toBe(2);
    expect(offsets(queues.take(10))).toEqual(['0@13', '1@6']);
  });

  it('gives a failed slice back whole, and ignores a refetch of records already queued', () => {
    const queues = new PartitionQueues();
    queues.add(0, records(0, 0, 3), 1);
    const slice = queues.take(10);
    queues.release(slice as NonNullable<typeof slice>, false);
    queues.add(0, records(0, 1, 4), 2); // 1 and 2 again, then 3 and 4
    expect(offsets(queues.take(10))).toEqual(['0@0', '0@1', '0@2', '0@3', '0@4']);
  });

  it('forgets partitions given away; a slice in flight from before does not touch the queue of a partition given back', () => {
    const queues = new PartitionQueues();
    queues.add(0, records(0, 0, 2), 1);
    queues.add(1, records(1, 0, 2), 1);
    const inFlight = queues.take(1) as NonNullable<ReturnType<PartitionQueues['take']>>;
    queues.keepOnly(new Set([1]));
    expect(queues.size).toBe(2);
    queues.keepOnly(new Set([0, 1]));
    queues.add(0, records(0, 0, 2), 2); // read again from the committed offset
    queues.release(inFlight, true);
    expect(queues.size).toBe(4);
    expect(offsets(queues.take(10))?.sort()).toEqual(['0@0', '0@1', '1@0', '1@1']);
  });

  it('takes partitions in turn, so a long queue does not starve the others', () => {
    const queues = new PartitionQueues();
    queues.add(0, records(0, 0, 10), 1);
    queues.add(1, records(1, 0, 10), 1);
    const first = queues.take(3) as NonNullable<ReturnType<PartitionQueues['take']>>;
    queues.release(first, true);
    expect(offsets(queues.take(3))).toEqual(['1@0', '1@1', '1@2']);
  });
});

/** The ids of buffered events (all kept as objects here: they have no bytes). */
const messageIds = (events: readonly PackedEvents[]) => events.flatMap((e) => e.decoded.map((d) => d.event.messageId));

describe('BufferedHistory', () => {
  it('puts the rows of a failed write back in front, so the next flush writes them', async () => {
    const written: string[][] = [];
    let fail = true;
    const writer = {
      write: async ({ events }) => {
        if (fail) throw new Error('ClickHouse unavailable');
        written.push(messageIds(events));
      },
    } satisfies HistorySink;
    const history = new BufferedHistory(writer, { maxRows: 3, maxAgeMs: 1_000 });
    history.add(
      { events: [packEvents([{ memberId: 'm', event: testEvent('a', 0) }])], identityChanges: [], transitions: [], segmentChanges: [], triggerFirings: [] },
      0,
    );
    await expect(history.flush()).rejects.toThrow('ClickHouse unavailable');
    expect(history.due(500)).toBe(false);
    expect(history.due(1_000)).toBe(true); // still as old as the failed rows
    history.add(
      { events: [packEvents([{ memberId: 'm', event: testEvent('b', 600) }])], identityChanges: [], transitions: [], segmentChanges: [], triggerFirings: [] },
      600,
    );
    fail = false;
    await history.flush();
    expect(written).toEqual([['a', 'b']]);
    expect(history.due(10_000)).toBe(false);
  });

  it('fails a flush started while an earlier one was writing when that one fails: only a flush after every earlier row is written succeeds', async () => {
    const written: string[][] = [];
    const pending: { resolve: () => void; reject: (error: Error) => void }[] = [];
    const writer: HistorySink = {
      write: ({ events }) =>
        new Promise<void>((resolve, reject) => {
          pending.push({ resolve: () => resolve(void written.push(messageIds(events))), reject });
        }),
    };
    const history = new BufferedHistory(writer, { maxRows: 3, maxAgeMs: 1_000 });
    const add = (id: string) =>
      history.add(
        { events: [packEvents([{ memberId: 'm', event: testEvent(id, 0) }])], identityChanges: [], transitions: [], segmentChanges: [], triggerFirings: [] },
        0,
      );
    add('a');
    const first = history.flush();
    add('b');
    const second = history.flush();
    expect(history.writesInFlight).toBe(2);
    await Promise.resolve();
    pending.shift()?.reject(new Error('ClickHouse unavailable'));
    await expect(first).rejects.toThrow('ClickHouse unavailable');
    await expect(second).rejects.toThrow('ClickHouse unavailable'); // it did not hold 'a', so it must not count as written
    expect(pending).toHaveLength(0);
    expect(history.writesInFlight).toBe(0);
    const third = history.flush();
    await Promise.resolve();
    pending.shift()?.resolve();
    await third;
    expect(written.map((ids) => ids.sort())).toEqual([['a', 'b']]);
  });
});
