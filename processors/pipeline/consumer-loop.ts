import type { Consumer, EachBatchPayload } from 'kafkajs';
import type { Clock } from '../../lib/clock.ts';
import type { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Topics } from '../../schemas/topics.ts';
import type { BufferedHistory } from '../history/buffered-history.ts';
import type { ProcessorMetrics } from '../metrics.ts';
import { lifecycleRecordsIn } from '../store/member-store.ts';
import type { BatchProcessor, SourceRecord } from './batch-processor.ts';
import type { OutputPublisher } from './output-publisher.ts';

export interface ConsumerLoopOptions {
  readonly batchSize: number;
  /** Testing only: chance of SIGKILL between the state update and the offset commit. */
  readonly crashAfterStateProbability: number;
}

/**
 * Per partition, one slice of a poll at a time: apply to Redis, publish dead letters and
 * outputs (acks=all), buffer the history; when the history buffer is flushed, commit the
 * offsets it covers. A failure anywhere throws, so kafkajs hands the same records again
 * from the last commit; applying them again is a no-op, and their history rows are
 * written again (the tables drop duplicates).
 */
export interface ConsumerLoopDependencies {
  readonly consumer: Consumer;
  readonly processor: BatchProcessor;
  readonly publisher: OutputPublisher;
  readonly producer: TopicProducer;
  readonly history: BufferedHistory;
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
  /** Per topic/partition: the next offset to commit once the history holding it is written. */
  readonly #uncommitted = new Map<string, { topic: string; partition: number; offset: string }>();

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
    const { processor, publisher, producer, history, topics, metrics, clock, options } = this.#deps;
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
      const transitions = lifecycleRecordsIn(result.outboxes);
      metrics.outputs.inc({ topic: 'lifecycle' }, await publisher.publish(result.outboxes));
      history.add(result.events, result.identityChanges, transitions, now);

      const last = slice.at(-1)?.offset as string;
      resolveOffset(last);
      this.#uncommitted.set(`${batch.topic}/${batch.partition}`, { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() });
      const lastSlice = start + options.batchSize >= messages.length;
      if (history.due(clock.now()) || (lastSlice && batch.offsetLag() === '0')) await this.#flushAndCommit();
      metrics.lag.set({ partition: String(batch.partition) }, Math.max(0, Number(batch.highWatermark) - Number(last) - 1));
      await heartbeat();
    }
  }

  /** Writes the buffered history, then commits every offset it covers. */
  async #flushAndCommit(): Promise<void> {
    const covered = [...this.#uncommitted.values()];
    this.#uncommitted.clear();
    await this.#deps.history.flush();
    if (covered.length > 0) await this.#deps.consumer.commitOffsets(covered);
  }

  /** On shutdown: what was processed gets its history written and its offsets committed. */
  async drain(): Promise<void> {
    await this.#flushAndCommit();
  }
}
