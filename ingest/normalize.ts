import { createHash } from 'node:crypto';
import type { EventRecord } from '../schemas/records.ts';
import { correctTimestamp, type TimestampTolerances } from './timestamps.ts';
import type { AcceptedMessage } from './validate.ts';

export interface ReceiveContext {
  readonly receivedAt: number;
  /** sentAt of the whole request (batch level), used when a message has none. */
  readonly requestSentAt: number | null;
  /** Name of the source the write key belongs to. */
  readonly source: string;
  readonly timeTolerances: TimestampTolerances;
  /** Batch-level context and integrations, which each message's own values override. */
  readonly requestContext: Record<string, unknown>;
  readonly requestIntegrations: Record<string, unknown>;
}

/**
 * A messageId for messages sent without one: derived from the source and the message's
 * content, so a client that retries the same request produces the same id and
 * downstream de-duplication still works.
 */
export function derivedMessageId(source: string, raw: Record<string, unknown>): string {
  return `srv-${createHash('sha256').update(source).update('\0').update(JSON.stringify(raw)).digest('hex').slice(0, 32)}`;
}

export function toEventRecord(message: AcceptedMessage, receive: ReceiveContext): EventRecord {
  const { timestamp, flags } = correctTimestamp(
    { original: message.originalTimestamp, sentAt: message.sentAt ?? receive.requestSentAt, receivedAt: receive.receivedAt },
    receive.timeTolerances,
  );
  return {
    messageId: message.messageId ?? derivedMessageId(receive.source, message.raw),
    type: message.type,
    userId: message.userId,
    anonymousId: message.anonymousId,
    previousId: message.previousId,
    groupId: message.groupId,
    event: message.event,
    name: message.name,
    timestamp,
    originalTimestamp: message.originalTimestamp,
    sentAt: message.sentAt ?? receive.requestSentAt,
    receivedAt: receive.receivedAt,
    context: JSON.stringify({ ...receive.requestContext, ...message.context }),
    properties: JSON.stringify(message.properties),
    traits: JSON.stringify(message.traits),
    integrations: JSON.stringify({ ...receive.requestIntegrations, ...message.integrations }),
    source: receive.source,
    flags,
  };
}
