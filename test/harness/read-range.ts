import type { Kafka } from 'kafkajs';
import type { TopicCodecs } from '../../lib/kafka/codecs.ts';
import type { Topic } from '../../schemas/topics.ts';

/** Reading back exactly what a test or the demo just produced: between two sets of high watermarks. */

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

/**
 * Reads back, through a consumer group, exactly the records between two sets of high
 * watermarks, decoding each one. Throws on a record that does not decode.
 */
export async function consumeRange<V>(
  kafka: Kafka,
  codecs: TopicCodecs,
  topic: Topic<V>,
  from: PartitionOffsets,
  to: PartitionOffsets,
  onRecord: (r: V) => Promise<void>,
  timeoutMs = 60_000,
): Promise<number> {
  const codec = codecs.codecFor(topic);
  const remaining = new Map([...to].filter(([p, high]) => high > (from.get(p) ?? 0n)));
  // A fresh group read from the earliest offset, skipping what precedes the range: the
  // start cannot lie past the range. (Seeking after run() raced with the first fetch,
  // which could begin at the high watermark and never see the range.)
  const groupId = `segstream-range-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 250 });
  let consumed = 0;
  let failure: Error | undefined;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  if (remaining.size === 0) finish();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: topic.name, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch, resolveOffset }) => {
        for (const message of batch.messages) {
          const high = remaining.get(batch.partition);
          if (high === undefined || BigInt(message.offset) >= high || BigInt(message.offset) < (from.get(batch.partition) ?? 0n)) continue;
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
