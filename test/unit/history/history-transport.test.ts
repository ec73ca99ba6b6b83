import { describe, expect, it } from 'vitest';
import { unpackHistoryBatch } from '../../../history/history-transport.ts';
import { type HistoryBatch, historyRows, packEvents } from '../../../history/history-writer.ts';
import type { EventRecord, MemberEventRecord } from '../../../schemas/records.ts';
import { testEvent } from '../../harness/test-event.ts';

// A stand-in wire format: the member event as JSON bytes.
const encode = (memberId: string, event: EventRecord) => Buffer.from(JSON.stringify({ ...event, memberId }));
const decode = async (bytes: Buffer) => JSON.parse(bytes.toString()) as MemberEventRecord;

/** Bytes cut from a larger fetched response, as kafkajs hands them over. */
function fetched(bytes: Buffer): { response: Buffer; bytes: Buffer } {
  const response = Buffer.alloc(1_000 + bytes.length);
  bytes.copy(response, 1_000);
  return { response, bytes: response.subarray(1_000) };
}

describe('history transport', () => {
  it('packs member-event records as read: their bytes copied into one buffer of their own', () => {
    const a = encode('m1', testEvent('a', 1, { properties: '{"total":12.5}' }));
    const c = encode('m3', testEvent('c', 3, { event: 'Order Completed', type: 'track' }));
    const fromKafka = [fetched(a), fetched(c)];
    const packed = packEvents(fromKafka.map((f) => f.bytes));
    expect(Buffer.from(packed.bytes)).toEqual(Buffer.concat([a, c]));
    expect([...packed.ends]).toEqual([a.length, a.length + c.length]);
    // A copy: it does not keep the fetched responses alive.
    for (const { response } of fromKafka) expect(packed.bytes.buffer).not.toBe(response.buffer);
    expect(historyRows({ events: [packed, packed], identityChanges: [], transitions: [], segmentChanges: [], triggerFirings: [] })).toBe(4);
  });

  it('unpacks what the other thread receives (a structured clone) into the same events with their members, batch after batch', async () => {
    const a = testEvent('a', 1);
    const b = testEvent('b', 2, { type: 'identify' });
    const c = testEvent('c', 3);
    const transition = { id: 't', memberId: 'm1', fromStage: null, toStage: 'prospect' as const, at: 1, causeEventId: 'a', reason: 'first event' };
    const batch: HistoryBatch = {
      events: [packEvents([encode('m1', a), encode('m2', b)]), packEvents([encode('m1', c)])],
      identityChanges: [],
      transitions: [transition],
      segmentChanges: [],
      triggerFirings: [],
    };
    const received = structuredClone(batch);
    const unpacked = await unpackHistoryBatch(received, decode);
    expect(unpacked.events).toEqual([
      { memberId: 'm1', event: a },
      { memberId: 'm2', event: b },
      { memberId: 'm1', event: c },
    ]);
    expect(unpacked.transitions).toEqual([transition]);
    // The sender keeps its bytes (for a retry if the write fails).
    expect(batch.events[0]?.bytes.byteLength).toBe(encode('m1', a).length + encode('m2', b).length);
  });

  it('packs and unpacks a batch without events', async () => {
    const empty = packEvents([]);
    expect(empty.bytes.byteLength).toBe(0);
    const unpacked = await unpackHistoryBatch({ events: [empty], identityChanges: [], transitions: [], segmentChanges: [], triggerFirings: [] }, decode);
    expect(unpacked.events).toEqual([]);
  });
});
