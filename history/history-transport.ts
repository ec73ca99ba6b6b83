import type { EventRecord } from '../../schemas/records.ts';
import { type DecodedHistoryBatch, type DecodedHistoryEvent, type HistoryBatch, packedRecords } from './history-writer.ts';

/**
 * A history batch as the history thread receives it (a structured clone: the packed bytes
 * are copied, not moved, so a batch whose write failed still has them for the retry),
 * with each event's bytes decoded by `decode` (which throws when it cannot), for writers
 * that need objects.
 */
export async function unpackHistoryBatch(batch: HistoryBatch, decode: (bytes: Buffer) => Promise<EventRecord>): Promise<DecodedHistoryBatch> {
  const events: DecodedHistoryEvent[] = [];
  for (const packed of batch.events) {
    events.push(...packed.decoded);
    for (const { memberId, record } of packedRecords(packed)) events.push({ memberId, event: await decode(record) });
  }
  const { identityChanges, transitions, segmentChanges, triggerFirings } = batch;
  return { events, identityChanges, transitions, segmentChanges, triggerFirings };
}
