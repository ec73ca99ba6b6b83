import { describe, expect, it } from 'vitest';
import { packHistoryBatch, unpackHistoryBatch } from '../../../processors/history/history-transport.ts';
import { type HistoryBatch, historyEventOf } from '../../../processors/history/history-writer.ts';
import type { EventRecord } from '../../../schemas/records.ts';
import { testEvent } from '../../harness/test-event.ts';

// A stand-in wire format: the event as JSON bytes.
const encode = (event: EventRecord) => Buffer.from(JSON.stringify(event));
const decode = async (bytes: Buffer) => JSON.parse(bytes.toString()) as EventRecord;

describe('history transport', () => {
  it('sends events with their bytes as one transferable buffer and the rest as objects; unpacking gives the same batch', async () => {
    const a = testEvent('a', 1, { properties: '{"total":12.5}' });
    const b = testEvent('b', 2, { type: 'identify', traits: '{"phone_hash":"x"}' });
    const c = testEvent('c', 3, { event: 'Order Completed', type: 'track' });
    const transition = { id: 't', memberId: 'm1', fromStage: null, toStage: 'prospect' as const, at: 1, causeEventId: 'a', reason: 'first event' };
    const batch: HistoryBatch = {
      events: [
        { memberId: 'm1', encoded: encode(a) },
        { memberId: 'm2', event: b },
        { memberId: 'm1', encoded: encode(c) },
      ],
      identityChanges: [],
      transitions: [transition],
      segmentChanges: [],
      triggerFirings: [],
    };
    const { packed, transfer } = packHistoryBatch(batch);
    expect(packed.encoded.memberIds).toEqual(['m1', 'm1']);
    expect(packed.events).toEqual([{ memberId: 'm2', event: b }]);
    expect(transfer).toEqual([packed.encoded.bytes.buffer]);
    expect(packed.encoded.bytes.byteLength).toBe(encode(a).length + encode(c).length);

    // What the other thread receives is a structured clone; the buffer moves.
    const received = structuredClone(packed, { transfer });
    expect(packed.encoded.bytes.byteLength).toBe(0);
    const unpacked = await unpackHistoryBatch(received, decode);
    expect(unpacked.events.map((e) => [e.memberId, e.event])).toEqual(
      expect.arrayContaining([
        ['m1', a],
        ['m2', b],
        ['m1', c],
      ]),
    );
    expect(unpacked.events).toHaveLength(3);
    expect(unpacked.transitions).toEqual([transition]);
  });

  it('packs a batch without events', async () => {
    const { packed } = packHistoryBatch({ events: [], identityChanges: [], transitions: [], segmentChanges: [], triggerFirings: [] });
    expect((await unpackHistoryBatch(packed, decode)).events).toEqual([]);
  });

  it('holds an applied event as a copy of its bytes when it has them, else as the object', () => {
    const event = testEvent('a', 1);
    // A fetched response of its own (Buffer.alloc does not use Node's shared pool).
    const fetched = Buffer.alloc(1_000 + encode(event).length);
    encode(event).copy(fetched, 1_000);
    const bytes = fetched.subarray(fetched.length - encode(event).length);
    const held = historyEventOf({ memberId: 'm1', event, encoded: bytes });
    expect(held).toEqual({ memberId: 'm1', encoded: encode(event) });
    // A copy: it does not keep the fetched response alive.
    expect((held as { encoded: Buffer }).encoded.buffer).not.toBe(fetched.buffer);
    expect(historyEventOf({ memberId: 'm2', event, encoded: null })).toEqual({ memberId: 'm2', event });
  });
});
