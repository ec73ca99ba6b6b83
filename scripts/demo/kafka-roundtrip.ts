import type { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import type { EventRecord } from '../../schemas/records.ts';
import type { Topic } from '../../schemas/topics.ts';
import { eventRoutingKey, toEventRecord } from '../../test/workload/event-record.ts';
import type { WorkloadEvent } from '../../test/workload/segment-message.ts';

const BATCH = 1_000;

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
