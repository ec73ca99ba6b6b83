import type { EventRecord } from '../../schemas/records.ts';
import type { DecodedHistoryBatch, DecodedHistoryEvent, HistoryBatch } from './history-writer.ts';

/**
 * A history batch as the history thread receives it (a structured clone: the packed bytes
 * are copied, not moved, so a batch whose write failed still has them for the retry),
 * with each event's bytes decoded by `decode` (which throws when it cannot), for writers
 * that need objects.
 */
export async function unpackHistoryBatch(batch: HistoryBatch, decode: (bytes: Buffer) => Promise<EventRecord>): Promise<DecodedHistoryBatch> {
  const events: DecodedHistoryEvent[] = [];
  for (const { memberIds, bytes, ends, decoded } of batch.events) {
    events.push(...decoded);
    let start = 0;
    for (let i = 0; i < memberIds.length; i++) {
      const end = ends[i] as number;
      events.push({ memberId: memberIds[i] as string, event: await decode(Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start)) });
      start = end;
    }
  }
  const { identityChanges, transitions, segmentChanges, triggerFirings } = batch;
  return { events, identityChanges, transitions, segmentChanges, triggerFirings };
}
