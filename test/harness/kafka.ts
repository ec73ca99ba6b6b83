import { setTimeout as sleep } from 'node:timers/promises';
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';

export interface ConsumedRecord {
  readonly partition: number;
  readonly offset: string;
  readonly message: KafkaMessage;
  readonly consumer: number;
}

export interface RunningGroup {
  readonly received: ConsumedRecord[];
  /** Latest partition assignment of each member. */
  readonly assignments: number[][];
  waitFor(count: number, timeoutMs?: number): Promise<ConsumedRecord[]>;
  stop(): Promise<void>;
}

/**
 * Starts `consumers` members of one consumer group on a topic, one after another (as
 * replicas start in practice), and resolves once every partition is assigned to exactly
 * one member.
 */
export async function startGroup(kafka: Kafka, options: { topic: string; groupId: string; consumers?: number; partitions: number }): Promise<RunningGroup> {
  const { topic, groupId, consumers = 1, partitions } = options;
  const received: ConsumedRecord[] = [];
  const assignments: number[][] = Array.from({ length: consumers }, () => []);
  const members: Consumer[] = [];
  const stable = () => {
    const all = assignments.flat().sort((a, b) => a - b);
    return all.length === partitions && all.every((p, i) => p === i) && assignments.every((a) => a.length > 0);
  };
  const startMember = async (index: number): Promise<void> => {
    // Short fetch waits: a member learns of a rebalance only between fetches, and must rejoin within the rebalance timeout.
    const consumer = kafka.consumer({ groupId, sessionTimeout: 6_000, heartbeatInterval: 300, rebalanceTimeout: 10_000, maxWaitTimeInMs: 100 });
    members[index] = consumer;
    let joins = 0;
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      joins++;
      assignments[index] = [...(event.payload.memberAssignment[topic] ?? [])];
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        received.push({ partition, offset: message.offset, message, consumer: index });
      },
    });
    const deadline = Date.now() + 30_000;
    while (joins === 0 && Date.now() < deadline) await sleep(50);
  };
  for (let index = 0; index < consumers; index++) await startMember(index);
  // Each join after the first rebalances the group; the earlier members rejoin within a heartbeat or two.
  const deadline = Date.now() + 30_000;
  while (!stable() && Date.now() < deadline) await sleep(50);
  if (!stable()) throw new Error(`consumer group ${groupId} did not settle within 30 s: assignments ${JSON.stringify(assignments)}`);
  return {
    received,
    assignments,
    async waitFor(count, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      while (received.length < count && Date.now() < until) await sleep(20);
      return received;
    },
    async stop() {
      // Stop consuming everywhere first so that leaving does not set off rebalances.
      await Promise.all(members.map((m) => m.stop()));
      await Promise.all(members.map((m) => m.disconnect()));
    },
  };
}
