import { describe, expect, it } from 'vitest';
import { BufferedHistory } from '../../../history/buffered-history.ts';
import { type HistorySink, type PackedEvents, packEvents, packedRecords } from '../../../history/history-writer.ts';
import { testEvent } from '../../harness/test-event.ts';

// A stand-in wire format for member events: JSON bytes.
const record = (messageId: string, at: number) => Buffer.from(JSON.stringify({ ...testEvent(messageId, at), memberId: 'm' }));

/** The ids of buffered events. */
const messageIds = (events: readonly PackedEvents[]) =>
  events.flatMap((e) => [...packedRecords(e)].map((bytes) => (JSON.parse(bytes.toString()) as { messageId: string }).messageId));

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
    history.add({ events: [packEvents([record('a', 0)])], identityChanges: [], transitions: [], segmentChanges: [], triggerFirings: [] }, 0);
    await expect(history.flush()).rejects.toThrow('ClickHouse unavailable');
    expect(history.due(500)).toBe(false);
    expect(history.due(1_000)).toBe(true); // still as old as the failed rows
    history.add({ events: [packEvents([record('b', 600)])], identityChanges: [], transitions: [], segmentChanges: [], triggerFirings: [] }, 600);
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
      history.add({ events: [packEvents([record(id, 0)])], identityChanges: [], transitions: [], segmentChanges: [], triggerFirings: [] }, 0);
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
