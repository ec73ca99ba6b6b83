import type { Kafka } from 'kafkajs';
import type { TopicCodecs } from '../../lib/kafka/codecs.ts';
import type { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import type { EventRecord } from '../../schemas/records.ts';
import type { Topic } from '../../schemas/topics.ts';
import { eventRoutingKey, toEventRecord } from '../../test/workload/event-record.ts';
import type { WorkloadEvent } from '../../test/workload/segment-message.ts';

const BATCH = 1_000;

export type PartitionOffsets = Map<number, bigint>;

export async function highWatermarks(kafka: Kafka, topic: string): Promise<PartitionOffsets> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  } finally {
    await admin.disconnect();
  }
}

/** Produces the workload in batches (acks=all); returns how many records the broker acknowledged. */
export async function produceWorkload(
  producer: TopicProducer,
  topic: Topic<EventRecord>,
  events: Iterable<WorkloadEvent>,
  source: string,
  now: () => number,
  onEvent: (e: WorkloadEvent) => void,
): Promise<number> {
  let batch: { key: string; value: EventRecord }[] = [];
  let acknowledged = 0;
  const flush = async () => {
    const acks = await producer.send(topic, batch);
    if (acks.some((ack) => ack.errorCode !== 0)) throw new Error(`the broker refused part of a batch: ${JSON.stringify(acks)}`);
    acknowledged += batch.length;
    batch = [];
  };
  for (const event of events) {
    onEvent(event);
    batch.push({ key: eventRoutingKey(event.message), value: toEventRecord(event.message, now(), source) });
    if (batch.length >= BATCH) await flush();
  }
  if (batch.length > 0) await flush();
  return acknowledged;
}

/**
 * Reads back, through a consumer group, exactly the records between two sets of high
 * watermarks, decoding each one. Throws on a record that does not decode.
 */
export async function consumeRange(
  kafka: Kafka,
  codecs: TopicCodecs,
  topic: Topic<EventRecord>,
  from: PartitionOffsets,
  to: PartitionOffsets,
  onRecord: (r: EventRecord) => Promise<void>,
  timeoutMs = 120_000,
): Promise<number> {
  const codec = codecs.codecFor(topic);
  const remaining = new Map([...to].filter(([p, high]) => high > (from.get(p) ?? 0n)));
  const consumer = kafka.consumer({ groupId: `segstream-demo-${Date.now()}` });
  let consumed = 0;
  let failure: Error | undefined;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  if (remaining.size === 0) finish();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: topic.name, fromBeginning: false });
    await consumer.run({
      eachBatch: async ({ batch, resolveOffset }) => {
        for (const message of batch.messages) {
          const high = remaining.get(batch.partition);
          if (high === undefined || BigInt(message.offset) >= high) continue;
          const decoded = await codec.decode(message.value);
          if (!decoded.ok) {
            failure = new Error(`record ${batch.partition}/${message.offset} did not decode: ${decoded.error.detail}`);
            finish();
            return;
          }
          await onRecord(decoded.value);
          consumed++;
          resolveOffset(message.offset);
          if (BigInt(message.offset) + 1n >= high) remaining.delete(batch.partition);
        }
        if (remaining.size === 0) finish();
      },
    });
    for (const [partition, offset] of from) consumer.seek({ topic: topic.name, partition, offset: offset.toString() });
    const timer = setTimeout(() => {
      failure = new Error(`timed out after ${timeoutMs} ms with ${consumed} records read`);
      finish();
    }, timeoutMs);
    await finished;
    clearTimeout(timer);
  } finally {
    await consumer.disconnect();
  }
  if (failure) throw failure;
  return consumed;
}
