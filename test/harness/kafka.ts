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
    const consumer = kafka.consumer({ groupId, sessionTimeout: 6_000, heartbeatInterval: 300, rebalanceTimeout: 2_000 });
    members[index] = consumer;
    let joins = 0;
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      joins++;
      assignments[index] = [...(event.payload.memberAssignment[topic] ?? [])];
    });
    // The mock broker sometimes answers SyncGroup with an error kafkajs does not retry, and
    // the consumer then stays down: a member that will not restart is replaced.
    consumer.on(consumer.events.CRASH, (event) => {
      if (event.payload.restart || stopped) return;
      assignments[index] = [];
      void consumer
        .disconnect()
        .catch(() => {})
        .then(() => (stopped ? undefined : startMember(index)))
        .catch((error: unknown) => {
          replacementError = error;
        });
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
  let stopped = false;
  let replacementError: unknown;
  for (let index = 0; index < consumers; index++) await startMember(index);
  // The mock broker can answer a rejoin with a SyncGroup error; the member then rejoins once
  // the broker drops its old membership, which takes up to about a minute there.
  const deadline = Date.now() + 100_000;
  while (!stable() && Date.now() < deadline) await sleep(50);
  if (!stable())
    throw new Error(
      `consumer group ${groupId} did not settle: assignments ${JSON.stringify(assignments)}${replacementError ? `; replacing a crashed member failed: ${String(replacementError)}` : ''}`,
    );
  return {
    received,
    assignments,
    async waitFor(count, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      while (received.length < count && Date.now() < until) await sleep(20);
      return received;
    },
    async stop() {
      stopped = true;
      // Stop consuming everywhere first so that leaving does not set off rebalances.
      await Promise.all(members.map((m) => m.stop()));
      await Promise.all(members.map((m) => m.disconnect()));
    },
  };
}
