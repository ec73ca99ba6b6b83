import type { MemberEventRecord } from '../schemas/records.ts';
import { type DecodedHistoryBatch, type DecodedHistoryEvent, type HistoryBatch, packedRecords } from './history-writer.ts';

/**
 * A history batch as the history thread receives it (a structured clone: the packed bytes
 * are copied, not moved, so a batch whose write failed still has them for the retry),
 * with each member-event record decoded by `decode` (which throws when it cannot), for
 * writers that need objects.
 */
export async function unpackHistoryBatch(batch: HistoryBatch, decode: (bytes: Buffer) => Promise<MemberEventRecord>): Promise<DecodedHistoryBatch> {
  const events: DecodedHistoryEvent[] = [];
  for (const packed of batch.events)
    for (const record of packedRecords(packed)) {
      const { memberId, ...event } = await decode(record);
      events.push({ memberId, event });
    }
  const { identityChanges, transitions, segmentChanges, triggerFirings } = batch;
  return { events, identityChanges, transitions, segmentChanges, triggerFirings };
}
