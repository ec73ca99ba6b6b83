import type { Message } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { BatchingPublisher, PublishError } from '../../../ingest/publisher.ts';
import { ManualClock } from '../../../lib/clock.ts';
import type { KeyedRecord, TopicProducer } from '../../../lib/kafka/topic-producer.ts';
import type { EventRecord } from '../../../schemas/records.ts';
import type { Topic } from '../../../schemas/topics.ts';

/** A producer whose sends the test completes or fails by hand, recording what was sent. */
function scriptedProducer() {
  const sends: { messages: string[]; settle: (error?: Error) => void }[] = [];
  const producer = {
    encode: (_topic: unknown, records: readonly KeyedRecord<EventRecord>[]): Message[] =>
      records.map((r) => ({ key: r.key, value: Buffer.from(r.value.messageId) })),
    sendEncoded: (_topic: unknown, messages: Message[]) =>
      new Promise((resolve, reject) => {
        sends.push({ messages: messages.map((m) => String(m.value)), settle: (error) => (error ? reject(error) : resolve([])) });
      }),
  } as unknown as TopicProducer;
  return { producer, sends };
}

const record = (id: string) => ({ key: 'k', value: { messageId: id } as EventRecord });
const topic = { name: 't' } as Topic<EventRecord>;
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('BatchingPublisher', () => {
  it('sends one request at a time, gathering what queued meanwhile, in arrival order', async () => {
    const { producer, sends } = scriptedProducer();
    const publisher = new BatchingPublisher(producer, topic, new ManualClock(0), { maxPendingRecords: 100, maxBatchRecords: 2, produceTimeoutMs: 10_000 });
    const first = publisher.publish([record('a')]);
    const second = publisher.publish([record('b'), record('c')]);
    const third = publisher.publish([record('d')]);
    await tick();
    expect(sends.map((s) => s.messages)).toEqual([['a']]);
    sends[0]?.settle();
    await first;
    await tick();
    // b,c and d would exceed 2 records together: b,c go first, then d.
    expect(sends.map((s) => s.messages)).toEqual([['a'], ['b', 'c']]);
    sends[1]?.settle();
    await second;
    await tick();
    sends[2]?.settle();
    await third;
    expect(sends.map((s) => s.messages)).toEqual([['a'], ['b', 'c'], ['d']]);
    expect(publisher.pending).toBe(0);
  });

  it('refuses new records when too many wait (429), and fails them when the broker refuses (503)', async () => {
    const { producer, sends } = scriptedProducer();
    const publisher = new BatchingPublisher(producer, topic, new ManualClock(0), { maxPendingRecords: 2, maxBatchRecords: 10, produceTimeoutMs: 10_000 });
    const waiting = publisher.publish([record('a'), record('b')]);
    await expect(publisher.publish([record('c')])).rejects.toMatchObject({ kind: 'overloaded', retryAfterSeconds: 1 });
    await tick();
    sends[0]?.settle(new Error('leader not available'));
    await expect(waiting).rejects.toBeInstanceOf(PublishError);
    await expect(waiting).rejects.toMatchObject({ kind: 'unavailable', message: 'the broker did not store the events: leader not available' });
    expect(publisher.pending).toBe(0);
  });

  it('gives up waiting after the produce timeout', async () => {
    const { producer } = scriptedProducer();
    const publisher = new BatchingPublisher(producer, topic, new ManualClock(0), { maxPendingRecords: 10, maxBatchRecords: 10, produceTimeoutMs: 50 });
    await expect(publisher.publish([record('a')])).rejects.toMatchObject({ kind: 'unavailable', message: 'the broker did not acknowledge within 50 ms' });
  });
});
