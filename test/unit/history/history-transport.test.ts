import { describe, expect, it } from 'vitest';
import { unpackHistoryBatch } from '../../../processors/history/history-transport.ts';
import { type HistoryBatch, historyRows, packEvents } from '../../../processors/history/history-writer.ts';
import type { EventRecord } from '../../../schemas/records.ts';
import { testEvent } from '../../harness/test-event.ts';

// A stand-in wire format: the event as JSON bytes.
const encode = (event: EventRecord) => Buffer.from(JSON.stringify(event));
const decode = async (bytes: Buffer) => JSON.parse(bytes.toString()) as EventRecord;

/** Bytes cut from a larger fetched response, as kafkajs hands them over. */
function fetched(event: EventRecord): { response: Buffer; bytes: Buffer } {
  const response = Buffer.alloc(1_000 + encode(event).length);
  encode(event).copy(response, 1_000);
  return { response, bytes: response.subarray(1_000) };
}

describe('history transport', () => {
  it("packs a slice's events: the bytes of unchanged ones copied into one buffer of their own, changed ones as objects", () => {
    const a = testEvent('a', 1, { properties: '{"total":12.5}' });
    const b = testEvent('b', 2, { type: 'identify', traits: '{"phone_hash":"x"}' });
    const c = testEvent('c', 3, { event: 'Order Completed', type: 'track' });
    const fromKafka = [fetched(a), fetched(c)];
    const packed = packEvents([
      { memberId: 'm1', event: a, encoded: fromKafka[0]?.bytes },
      { memberId: 'm2', event: b, encoded: null },
      { memberId: 'm3', event: c, encoded: fromKafka[1]?.bytes },
    ]);
    expect(packed.memberIds).toEqual(['m1', 'm3']);
    expect(packed.decoded).toEqual([{ memberId: 'm2', event: b }]);
    expect(Buffer.from(packed.bytes)).toEqual(Buffer.concat([encode(a), encode(c)]));
    expect([...packed.ends]).toEqual([encode(a).length, encode(a).length + encode(c).length]);
    // A copy: it does not keep the fetched responses alive.
    for (const { response } of fromKafka) expect(packed.bytes.buffer).not.toBe(response.buffer);
    expect(historyRows({ events: [packed, packed], identityChanges: [], transitions: [], segmentChanges: [], triggerFirings: [] })).toBe(6);
  });

  it('unpacks what the other thread receives (a structured clone) into the same events, slice after slice', async () => {
    const a = testEvent('a', 1);
    const b = testEvent('b', 2, { type: 'identify' });
    const c = testEvent('c', 3);
    const transition = { id: 't', memberId: 'm1', fromStage: null, toStage: 'prospect' as const, at: 1, causeEventId: 'a', reason: 'first event' };
    const batch: HistoryBatch = {
      events: [
        packEvents([
          { memberId: 'm1', event: a, encoded: encode(a) },
          { memberId: 'm2', event: b },
        ]),
        packEvents([{ memberId: 'm1', event: c, encoded: encode(c) }]),
      ],
      identityChanges: [],
      transitions: [transition],
      segmentChanges: [],
      triggerFirings: [],
    };
    const received = structuredClone(batch);
    const unpacked = await unpackHistoryBatch(received, decode);
    expect(unpacked.events).toEqual([
      { memberId: 'm2', event: b },
      { memberId: 'm1', event: a },
      { memberId: 'm1', event: c },
    ]);
    expect(unpacked.transitions).toEqual([transition]);
    // The sender keeps its bytes (for a retry if the write fails).
    expect(batch.events[0]?.bytes.byteLength).toBe(encode(a).length);
  });

  it('packs and unpacks a slice without events', async () => {
    const empty = packEvents([]);
    expect(empty.bytes.byteLength).toBe(0);
    const unpacked = await unpackHistoryBatch({ events: [empty], identityChanges: [], transitions: [], segmentChanges: [], triggerFirings: [] }, decode);
    expect(unpacked.events).toEqual([]);
  });
});
