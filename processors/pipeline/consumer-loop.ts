import type { Consumer, EachBatchPayload } from 'kafkajs';
import type { Clock } from '../../lib/clock.ts';
import type { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import type { Logger } from '../../lib/logger.ts';
import type { LifecycleTransitionRecord } from '../../schemas/records.ts';
import type { Topics } from '../../schemas/topics.ts';
import type { HistoryWriter } from '../history/history-writer.ts';
import type { ProcessorMetrics } from '../metrics.ts';
import type { BatchProcessor, SourceRecord } from './batch-processor.ts';
import type { OutputPublisher } from './output-publisher.ts';

export interface ConsumerLoopOptions {
  readonly batchSize: number;
  /** Testing only: chance of SIGKILL between the state update and the offset commit. */
  readonly crashAfterStateProbability: number;
}

/**
 * One poll at a time per partition: apply to Redis, publish dead letters and outputs
 * (acks=all), write history, then commit. A failure anywhere throws, so kafkajs hands
 * the same records again from the last commit; applying them again is a no-op.
 */
export interface ConsumerLoopDependencies {
  readonly consumer: Consumer;
  readonly processor: BatchProcessor;
  readonly publisher: OutputPublisher;
  readonly producer: TopicProducer;
  readonly history: HistoryWriter;
  readonly topics: Topics;
  readonly metrics: ProcessorMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly options: ConsumerLoopOptions;
}

export class ConsumerLoop {
  readonly #deps: ConsumerLoopDependencies;
  /** Partitions this replica owns now: also the timer shards it sweeps. */
  readonly ownedPartitions = new Set<number>();

  constructor(deps: ConsumerLoopDependencies) {
    this.#deps = deps;
  }

  async start(): Promise<void> {
    const { consumer, topics } = this.#deps;
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      this.ownedPartitions.clear();
      for (const p of event.payload.memberAssignment[topics.events.name] ?? []) this.ownedPartitions.add(p);
      this.#deps.logger.info({ partitions: [...this.ownedPartitions] }, 'partitions assigned');
    });
    await consumer.connect();
    await consumer.subscribe({ topic: topics.events.name, fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 2, eachBatch: (payload) => this.#eachBatch(payload) });
  }

  async #eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { consumer, processor, publisher, producer, history, topics, metrics, clock, options } = this.#deps;
    const messages = batch.messages;
    for (let start = 0; start < messages.length; start += options.batchSize) {
      if (!isRunning() || isStale()) return;
      const slice = messages.slice(start, start + options.batchSize);
      const records: SourceRecord[] = slice.map((m) => ({ partition: batch.partition, offset: m.offset, key: m.key ?? null, value: m.value ?? null }));
      const result = await processor.process(batch.topic, records);
      const now = clock.now();
      for (const { event } of result.events) metrics.latency.observe(Math.max(0, now - event.receivedAt) / 1000);
      metrics.events.inc({ outcome: 'applied' }, result.applied);
      metrics.events.inc({ outcome: 'duplicate' }, result.duplicates);
      metrics.events.inc({ outcome: 'dead_letter' }, result.deadLetters.length);

      if (options.crashAfterStateProbability > 0 && Math.random() < options.crashAfterStateProbability) {
        // The state is in Redis, the outputs only in the outboxes, nothing committed.
        process.kill(process.pid, 'SIGKILL');
      }
      if (result.deadLetters.length > 0) {
        await producer.send(
          topics.deadLetters,
          result.deadLetters.map((d) => ({ key: `${d.sourceTopic}/${d.sourcePartition}`, value: d })),
        );
        for (const d of result.deadLetters) metrics.deadLetters.inc({ reason: d.reason });
      }
      const transitions = [...result.outboxes.values()].flat().map((entry) => entry.record as unknown as LifecycleTransitionRecord);
      await history.write(result.events, result.identityChanges, transitions);
      metrics.outputs.inc({ topic: 'lifecycle' }, await publisher.publish(result.outboxes));

      const last = slice.at(-1)?.offset as string;
      resolveOffset(last);
      await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
      metrics.lag.set({ partition: String(batch.partition) }, Math.max(0, Number(batch.highWatermark) - Number(last) - 1));
      await heartbeat();
    }
  }
}
