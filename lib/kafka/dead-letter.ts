import type { DeadLetterRecord } from '../../schemas/records.ts';

/** A record read from Kafka, as much of it as a dead letter keeps. */
export interface ReadRecord {
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
}

/** The dead letter of a record that cannot be processed: why, and the record as it came (its id is its place in the log). */
export function deadLetterOf(topic: string, record: ReadRecord, reason: string, detail: string, at: number): DeadLetterRecord {
  return {
    id: `${topic}/${record.partition}/${record.offset}`,
    reason,
    detail,
    sourceTopic: topic,
    sourcePartition: record.partition,
    sourceOffset: Number(record.offset),
    key: record.key,
    value: record.value,
    at,
  };
}
