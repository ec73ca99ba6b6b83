import type { EventRecord } from '../../schemas/records.ts';

/** An event record as ingest produces it, at time `at`, with whatever fields a test sets. */
export function testEvent(messageId: string, at: number, partial: Partial<EventRecord> = {}): EventRecord {
  return {
    messageId,
    type: 'track',
    userId: null,
    anonymousId: null,
    previousId: null,
    groupId: null,
    event: null,
    name: null,
    timestamp: at,
    originalTimestamp: at,
    sentAt: null,
    receivedAt: at,
    context: '{}',
    properties: '{}',
    traits: '{}',
    integrations: '{}',
    source: 'test',
    flags: [],
    ...partial,
  };
}
