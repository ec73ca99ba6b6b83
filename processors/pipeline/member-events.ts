import type { EncodedRecord } from '../../lib/kafka/topic-producer.ts';
import { avroString } from '../../lib/warehouse/avro-container.ts';
import type { AvroCodec } from '../../schemas/codec.ts';
import type { EventRecord, MemberEventRecord } from '../../schemas/records.ts';
import { HEADER_LENGTH, MAGIC_BYTE } from '../../schemas/wire-format.ts';

/** An event as applied: the member it was applied to, the event as stored, and the bytes it was read in when they decode to exactly that event. */
export interface AppliedEvent {
  readonly memberId: string;
  readonly event: EventRecord;
  readonly encoded: Buffer | null;
}

/**
 * Encodes applied events as records of the member-events topic, for the history service.
 * A MemberEvent body is an Event body followed by the member id, so an event read in the
 * latest Event schema goes out as the bytes it came in with the member id appended (no
 * encoding); one the processor changed (identity traits hashed) or read in an older
 * schema is encoded anew. Keyed by member. The record time is when it is produced: a
 * replay of old events must not give the broker records its retention deletes at once.
 */
export class MemberEventEncoder {
  readonly #events: AvroCodec<EventRecord>;
  readonly #memberEvents: AvroCodec<MemberEventRecord>;
  readonly #header: Buffer;

  constructor(events: AvroCodec<EventRecord>, memberEvents: AvroCodec<MemberEventRecord>) {
    const eventFields = (events.schema as { fields: { name: string }[] }).fields.map((f) => f.name);
    const memberEventFields = (memberEvents.schema as { fields: { name: string }[] }).fields.map((f) => f.name);
    if (JSON.stringify([...eventFields, 'memberId']) !== JSON.stringify(memberEventFields))
      throw new Error(`the ${memberEvents.subject} schema must be the fields of ${events.subject} followed by memberId`);
    this.#events = events;
    this.#memberEvents = memberEvents;
    this.#header = Buffer.alloc(HEADER_LENGTH);
    this.#header.writeUInt8(MAGIC_BYTE, 0);
    this.#header.writeInt32BE(memberEvents.writerId, 1);
  }

  messages(events: readonly AppliedEvent[]): EncodedRecord[] {
    return events.map(({ memberId, event, encoded }) => {
      const body = encoded ? this.#events.ownLatestBody(encoded) : undefined;
      const value = body ? Buffer.concat([this.#header, body, avroString(memberId)]) : this.#memberEvents.encode({ ...event, memberId });
      return { key: memberId, value };
    });
  }
}
