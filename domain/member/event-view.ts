import { parseJsonObject } from '../../lib/json.ts';
import type { EventRecord } from '../../schemas/records.ts';

/** An event as rules read it (`event.*`, docs/rules.md). */
export function eventVariables(event: EventRecord, properties: Record<string, unknown> = parseJsonObject(event.properties)): Record<string, unknown> {
  return {
    type: event.type,
    event: event.event,
    name: event.name,
    timestamp: event.timestamp,
    message_id: event.messageId,
    properties,
    traits: parseJsonObject(event.traits),
    context: parseJsonObject(event.context),
  };
}
