import type { EventRecord } from '../../schemas/records.ts';
import type { SegmentMessage } from './segment-message.ts';

/**
 * The record ingest would produce for a message received at `receivedAt`, for tests and
 * benchmarks that feed Kafka directly. No validation or clock-skew correction: the
 * generator's timestamps are already right.
 */
export function toEventRecord(message: SegmentMessage, receivedAt: number, source = 'workload'): EventRecord {
  return {
    messageId: message.messageId,
    type: message.type,
    userId: message.userId ?? null,
    anonymousId: message.anonymousId ?? null,
    previousId: message.previousId ?? null,
    groupId: message.groupId ?? null,
    event: message.event ?? null,
    name: message.name ?? null,
    timestamp: Date.parse(message.timestamp),
    originalTimestamp: Date.parse(message.timestamp),
    sentAt: null,
    receivedAt,
    context: JSON.stringify(message.context ?? {}),
    properties: JSON.stringify(message.properties ?? {}),
    traits: JSON.stringify(message.traits ?? {}),
    integrations: '{}',
    source,
    flags: [],
  };
}
