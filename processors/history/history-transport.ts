import type { EventRecord } from '../../schemas/records.ts';
import type { DecodedHistoryBatch, DecodedHistoryEvent, EncodedHistoryEvent, HistoryBatch } from './history-writer.ts';

/**
 * A history batch as posted to the history thread. Copying event objects between threads
 * costs the processing thread about as much as writing their rows, so events that still
 * have the bytes they arrived in travel as those bytes (one transferable buffer) and are
 * decoded on the other side; the few the processor changed (identity traits replaced by
 * their hashes) travel as objects.
 */
export interface PackedHistoryBatch extends Omit<HistoryBatch, 'events'> {
  readonly encoded: { readonly memberIds: readonly string[]; readonly bytes: Uint8Array; readonly ends: Uint32Array };
  readonly events: readonly DecodedHistoryEvent[];
}

export function packHistoryBatch(batch: HistoryBatch): { packed: PackedHistoryBatch; transfer: ArrayBuffer[] } {
  const withBytes: EncodedHistoryEvent[] = [];
  const events: DecodedHistoryEvent[] = [];
  let size = 0;
  for (const e of batch.events) {
    if ('encoded' in e) {
      withBytes.push(e);
      size += e.encoded.length;
    } else events.push(e);
  }
  // Its own ArrayBuffer (not Node's shared pool), so it can be transferred rather than copied.
  const bytes = new Uint8Array(new ArrayBuffer(size));
  const ends = new Uint32Array(withBytes.length);
  let at = 0;
  withBytes.forEach((e, i) => {
    bytes.set(e.encoded, at);
    at += e.encoded.length;
    ends[i] = at;
  });
  const packed: PackedHistoryBatch = {
    encoded: { memberIds: withBytes.map((e) => e.memberId), bytes, ends },
    events,
    identityChanges: batch.identityChanges,
    transitions: batch.transitions,
    segmentChanges: batch.segmentChanges,
    triggerFirings: batch.triggerFirings,
  };
  return { packed, transfer: [bytes.buffer as ArrayBuffer] };
}

/** The batch again, with each encoded event decoded by `decode` (which throws when it cannot). */
export async function unpackHistoryBatch(packed: PackedHistoryBatch, decode: (bytes: Buffer) => Promise<EventRecord>): Promise<DecodedHistoryBatch> {
  const { memberIds, bytes, ends } = packed.encoded;
  const events = [...packed.events];
  let start = 0;
  for (let i = 0; i < memberIds.length; i++) {
    const end = ends[i] as number;
    events.push({ memberId: memberIds[i] as string, event: await decode(Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start)) });
    start = end;
  }
  const { identityChanges, transitions, segmentChanges, triggerFirings } = packed;
  return { events, identityChanges, transitions, segmentChanges, triggerFirings };
}
