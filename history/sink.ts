import type { Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import type { Clock } from '../lib/clock.ts';
import { errorMessage } from '../lib/errors.ts';
import type { TopicCodecs } from '../lib/kafka/codecs.ts';
import { deadLetterOf } from '../lib/kafka/dead-letter.ts';
import type { Logger } from '../lib/logger.ts';
import type { DeadLetterRecord } from '../schemas/records.ts';
import type { Topic, Topics } from '../schemas/topics.ts';
import type { BufferedHistory } from './buffered-history.ts';
import { type HistoryBatch, packEvents } from './history-writer.ts';
import type { HistoryMetrics } from './metrics.ts';

export interface HistorySinkOptions {
  /** Where a consumer group with no committed offsets starts. */
  readonly newGroupStartsAt: 'earliest' | 'latest';
  /** How often buffered rows are checked for age (written once HISTORY_MAX_AGE_MS old). */
  readonly flushCheckMs: number;
}

export interface HistorySinkDependencies {
  readonly consumer: Consumer;
  readonly topics: Topics;
  readonly codecs: TopicCodecs;
  readonly history: BufferedHistory;
  /** Publishes dead letters (acks=all): records no version of their schema can read. */
  readonly deadLetters: (records: readonly DeadLetterRecord[]) => Promise<void>;
  readonly metrics: HistoryMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly options: HistorySinkOptions;
}

type OutcomeField = Exclude<keyof HistoryBatch, 'events'>;

const NO_ROWS: HistoryBatch = { events: [], identityChanges: [], transitions: [], segmentChanges: [], triggerFirings: [] };

/**
 * The history service's consumer, the shape of a Kafka Connect sink: reads what the
 * processors publish (member events, identity changes, lifecycle transitions, segment
 * changes, trigger firings), buffers it into large inserts and commits each record's
 * offset only once the insert holding its rows succeeded. Processing goes on while
 * ClickHouse is down: the records wait in Kafka. Every table is keyed by the record's own
 * id, so a record read twice (a crash before the commit, a rebalance) is one row.
 */
export class HistorySinkLoop {
  readonly #deps: HistorySinkDependencies;
  /** Whether this replica has joined the group and been given its partitions (readiness). */
  joined = false;
  /** "topic/partition" this replica owns now. */
  readonly #owned = new Set<string>();
  /** Per owned topic partition: the next offset to commit once the rows read so far are written. */
  readonly #uncommitted = new Map<string, { topic: string; partition: number; offset: string }>();
  readonly #outcomeFields: ReadonlyMap<string, { field: OutcomeField; topic: Topic<unknown> }>;
  #committing: Promise<void> = Promise.resolve();
  #flushTimer: NodeJS.Timeout | undefined;
  #fetching = false;

  constructor(deps: HistorySinkDependencies) {
    this.#deps = deps;
    const { topics } = deps;
    this.#outcomeFields = new Map<string, { field: OutcomeField; topic: Topic<unknown> }>([
      [topics.identityChanges.name, { field: 'identityChanges', topic: topics.identityChanges }],
      [topics.lifecycle.name, { field: 'transitions', topic: topics.lifecycle }],
      [topics.segmentChanges.name, { field: 'segmentChanges', topic: topics.segmentChanges }],
      [topics.triggers.name, { field: 'triggerFirings', topic: topics.triggers }],
    ]);
  }

  /** The topics history is made of. */
  get sourceTopics(): string[] {
    return [this.#deps.topics.memberEvents.name, ...this.#outcomeFields.keys()];
  }

  async start(): Promise<void> {
    const { consumer, options, logger, history, clock } = this.#deps;
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      this.#owned.clear();
      for (const [topic, partitions] of Object.entries(event.payload.memberAssignment))
        for (const partition of partitions) this.#owned.add(`${topic}/${partition}`);
      // A partition that moved away is read again by its new owner from the committed offset.
      for (const key of this.#uncommitted.keys()) if (!this.#owned.has(key)) this.#uncommitted.delete(key);
      this.joined = true;
      logger.info({ partitions: this.#owned.size }, 'partitions assigned');
    });
    consumer.on(consumer.events.CRASH, (event) =>
      logger.error({ err: event.payload.error, restart: event.payload.restart }, 'Kafka consumer crashed; kafkajs restarts it when it can'),
    );
    this.#flushTimer = setInterval(() => {
      if (history.due(clock.now())) this.#flushAndCommit().catch(this.#reportFlushFailure);
    }, options.flushCheckMs);
    await consumer.connect();
    await consumer.subscribe({ topics: this.sourceTopics, fromBeginning: options.newGroupStartsAt === 'earliest' });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (payload) => this.#take(payload) });
    this.#fetching = true;
  }

  /** Buffers a fetched batch's rows; once the buffer holds a full insert, writes it before taking more (backpressure). */
  async #take({ batch, resolveOffset, heartbeat, isStale }: EachBatchPayload): Promise<void> {
    const last = batch.messages.at(-1);
    const key = `${batch.topic}/${batch.partition}`;
    if (!last || isStale() || !this.#owned.has(key)) return;
    const { history, clock, metrics } = this.#deps;
    history.add(await this.#rowsOf(batch.topic, batch.partition, batch.messages), clock.now());
    this.#uncommitted.set(key, { topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() });
    resolveOffset(last.offset);
    metrics.lag.set({ topic: batch.topic, partition: String(batch.partition) }, Math.max(0, Number(batch.highWatermark) - Number(last.offset) - 1));
    if (history.full()) await this.#flushAndCommit();
    await heartbeat();
  }

  /** The rows of a batch of one topic; records no schema version can read go to the dead-letter topic. */
  async #rowsOf(topicName: string, partition: number, messages: readonly KafkaMessage[]): Promise<HistoryBatch> {
    const { topics, codecs, metrics, clock } = this.#deps;
    const deadLetters: DeadLetterRecord[] = [];
    const refuse = (message: KafkaMessage, reason: string, detail: string) =>
      deadLetters.push(
        deadLetterOf(topicName, { partition, offset: message.offset, key: message.key ?? null, value: message.value ?? null }, reason, detail, clock.now()),
      );
    let rows: HistoryBatch;
    if (topicName === topics.memberEvents.name) {
      // Kept as the bytes they came in: ClickHouse reads them (records of an older schema are rewritten at the insert).
      const codec = codecs.codecFor(topics.memberEvents);
      const records: Buffer[] = [];
      for (const message of messages) {
        const value = message.value ?? null;
        if (value && codec.ownLatestBody(value)) {
          records.push(value);
          continue;
        }
        const decoded = await codec.decode(value);
        if (decoded.ok) records.push(value as Buffer);
        else refuse(message, decoded.error.reason, decoded.error.detail);
      }
      rows = { ...NO_ROWS, events: records.length > 0 ? [packEvents(records)] : [] };
    } else {
      const outcome = this.#outcomeFields.get(topicName);
      if (!outcome) throw new Error(`the history service does not read topic ${topicName}`);
      const codec = codecs.codecFor(outcome.topic);
      const records: unknown[] = [];
      for (const message of messages) {
        const value = message.value ?? null;
        const decoded = codec.decodeKnown(value) ?? (await codec.decode(value));
        if (decoded.ok) records.push(decoded.value);
        else refuse(message, decoded.error.reason, decoded.error.detail);
      }
      rows = { ...NO_ROWS, [outcome.field]: records };
    }
    if (deadLetters.length > 0) await this.#deps.deadLetters(deadLetters);
    metrics.records.inc({ topic: topicName, outcome: 'buffered' }, messages.length - deadLetters.length);
    if (deadLetters.length > 0) metrics.records.inc({ topic: topicName, outcome: 'dead_letter' }, deadLetters.length);
    return rows;
  }

  readonly #reportFlushFailure = (error: unknown): void => this.#deps.logger.warn({ err: errorMessage(error) }, 'history flush failed; it is retried');

  /**
   * Writes the buffered rows, then commits every offset they cover, in flush order. If
   * either fails, the offsets go back (unless a later one replaced them, or the partition
   * moved away) for the next flush to commit.
   */
  async #flushAndCommit(): Promise<void> {
    const { history, metrics, clock, consumer } = this.#deps;
    const covered = [...this.#uncommitted];
    this.#uncommitted.clear();
    const rows = history.pendingRows;
    const started = clock.now();
    try {
      await history.flush();
      metrics.flushes.inc({ outcome: 'ok' });
      metrics.rowsWritten.inc(rows);
      metrics.flushSeconds.observe((clock.now() - started) / 1000);
      if (covered.length > 0) {
        const commit = this.#committing.catch(() => {}).then(() => consumer.commitOffsets(covered.map(([, position]) => position)));
        this.#committing = commit;
        await commit;
      }
    } catch (error) {
      metrics.flushes.inc({ outcome: 'failed' });
      for (const [key, position] of covered) if (!this.#uncommitted.has(key) && this.#owned.has(key)) this.#uncommitted.set(key, position);
      throw error;
    }
  }

  /** On shutdown: fetching pauses, what was read is written and committed (then the service leaves the group). */
  async drain(): Promise<void> {
    if (this.#fetching) this.#deps.consumer.pause(this.sourceTopics.map((topic) => ({ topic })));
    this.#fetching = false;
    clearInterval(this.#flushTimer);
    await this.#flushAndCommit();
  }
}
