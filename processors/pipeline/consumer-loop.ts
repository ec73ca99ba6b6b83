import { setTimeout as sleep } from 'node:timers/promises';
import type { Consumer, EachBatchPayload } from 'kafkajs';
import type { Clock } from '../../lib/clock.ts';
import type { PartitionPositions } from '../../lib/kafka/partition-positions.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Topics } from '../../schemas/topics.ts';
import type { ProcessorMetrics } from '../metrics.ts';
import type { PartitionProgress } from '../store/partition-progress.ts';
import { AppliedPositions } from './applied-positions.ts';
import type { BatchProcessor, SourceRecord } from './batch-processor.ts';
import { PartitionQueues, type Slice } from './partition-queues.ts';
import { PendingCommits } from './pending-commits.ts';
import type { UnitCompletion } from './unit-completion.ts';

export interface ConsumerLoopOptions {
  /** Most records applied in one slice (one set of Redis round trips). */
  readonly batchSize: number;
  /** Slices applied at the same time (each of different partitions). */
  readonly concurrency: number;
  /** Fetched records held in memory before fetching waits for applying. */
  readonly maxQueued: number;
  /** How often the offsets of completed slices are committed (at most; the last ones also at drain). */
  readonly commitIntervalMs: number;
  /** Wait before applying a slice again after a failure (Redis or Kafka unavailable). */
  readonly retryDelayMs: number;
  /** Testing only: chance of SIGKILL between the state update and the offset commit. */
  readonly crashAfterStateProbability: number;
  /** Where a consumer group without committed offsets starts. */
  readonly newGroupStartsAt: 'earliest' | 'latest';
  /** How often caught-up partitions move their stream time to the wall clock. */
  readonly caughtUpIntervalMs: number;
  /** Longest time from ingest receiving an event to Kafka storing it (PROCESSOR_INGEST_DELAY_MS). */
  readonly ingestDelayMs: number;
}

export interface ConsumerLoopDependencies {
  readonly consumer: Consumer;
  readonly processor: BatchProcessor;
  readonly completion: UnitCompletion;
  readonly progress: PartitionProgress;
  readonly positions: PartitionPositions;
  readonly topics: Topics;
  readonly metrics: ProcessorMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly options: ConsumerLoopOptions;
}

/** How long a partition held back at a link waits before it is tried again. */
const LINK_WAIT_MS = 20;

/**
 * How long slices wait for the first records of a partition behind its end that has
 * nothing queued (a fetch brings a few partitions at a time); after that they go on
 * without it.
 */
const FETCH_WAIT_MS = 1_000;

/**
 * Fetches into per-partition queues; workers apply slices of them: state to Redis, dead
 * letters, outputs and history records published (acks=all). Once a slice is complete,
 * its offsets are committed (every PROCESSOR_COMMIT_INTERVAL_MS). A slice that fails is applied again
 * after a pause (it is idempotent); a crash re-reads from the last commit, and what was
 * applied already is skipped.
 */
export class ConsumerLoop {
  readonly #deps: ConsumerLoopDependencies;
  /** Partitions this replica owns now: also the timer shards it sweeps. */
  readonly ownedPartitions = new Set<number>();
  /** Whether this replica has joined the group and been given its partitions (readiness). */
  joined = false;
  readonly #pendingCommits = new PendingCommits();
  readonly #queues = new PartitionQueues();
  readonly #highWatermarks = new Map<number, string>();
  /** Each partition's end, as the last check of which partitions are caught up found it. */
  readonly #ends = new Map<number, bigint>();
  /** Since when each partition behind its end has had nothing queued. */
  readonly #unfetchedSince = new Map<number, number>();
  readonly #positions = new AppliedPositions();
  /**
   * Per partition, the offset its history records are published through: read from Redis
   * once after each join, then kept as this replica publishes (one round trip less per
   * slice). Another replica writes it only while owning the partition, which ends with a
   * join here; a value kept too low only publishes history again, which is deduplicated.
   */
  readonly #historyThrough = new Map<number, number>();
  /** Workers waiting for records, and fetches waiting for room in the queues. */
  readonly #waitingForRecords = new Signal();
  readonly #waitingForRoom = new Signal();
  #running = false;
  /** consumer.run was called: pausing is possible (and needed before the final commit). */
  #fetching = false;
  #workers: Promise<void>[] = [];
  #committing: Promise<void> = Promise.resolve();
  #commitTimer: NodeJS.Timeout | undefined;
  #caughtUpTimer: NodeJS.Timeout | undefined;
  #markingCaughtUp: Promise<void> | undefined;

  constructor(deps: ConsumerLoopDependencies) {
    this.#deps = deps;
  }

  async start(): Promise<void> {
    const { consumer, topics, options, logger } = this.#deps;
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      this.ownedPartitions.clear();
      for (const p of event.payload.memberAssignment[topics.events.name] ?? []) this.ownedPartitions.add(p);
      // A partition that moved away is read again by its new owner from the committed offset; applying is idempotent.
      this.#queues.keepOnly(this.ownedPartitions);
      this.#pendingCommits.keepOnly(this.ownedPartitions);
      this.#positions.keepOnly(this.ownedPartitions);
      this.#historyThrough.clear();
      // A partition kept is fetched again from its committed offset, and its records queued or applied here are not
      // queued again: commit what was applied once more, in case its commit was lost (kafkajs drops commits made
      // while its consumer restarts), else the partition would stay short of its end.
      for (const partition of this.ownedPartitions) {
        const position = this.#positions.position(partition);
        if (position !== undefined) this.#pendingCommits.set(partition, position.toString());
      }
      this.joined = true;
      logger.info({ partitions: [...this.ownedPartitions] }, 'partitions assigned');
      // Their ends now, not at the next interval: slices wait for partitions behind their end.
      this.#checkCaughtUp();
    });
    // kafkajs restarts a crashed consumer itself; the cause must still be visible.
    consumer.on(consumer.events.CRASH, (event) =>
      logger.error({ err: event.payload.error, restart: event.payload.restart }, 'Kafka consumer crashed; kafkajs restarts it when it can'),
    );
    this.#running = true;
    this.#workers = Array.from({ length: options.concurrency }, () => this.#work());
    this.#commitTimer = setInterval(() => this.#commit().catch(this.#reportCommitFailure), options.commitIntervalMs);
    this.#caughtUpTimer = setInterval(() => this.#checkCaughtUp(), options.caughtUpIntervalMs);
    await consumer.connect();
    // A group with no committed offsets starts at the start of the topic, or only at new records.
    await consumer.subscribe({ topic: topics.events.name, fromBeginning: options.newGroupStartsAt === 'earliest' });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (payload) => this.#enqueue(payload) });
    this.#fetching = true;
  }

  /** markCaughtUp, unless a check is under way. */
  #checkCaughtUp(): void {
    this.#markingCaughtUp ??= this.markCaughtUp()
      .catch((error: unknown) => this.#deps.logger.warn({ err: error }, 'could not check which partitions are caught up; timers wait'))
      .finally(() => {
        this.#markingCaughtUp = undefined;
      });
  }

  /** Queues a fetched batch; waits (heartbeating) while too much is queued. */
  async #enqueue({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const last = batch.messages.at(-1);
    if (!last || isStale() || !this.ownedPartitions.has(batch.partition)) return;
    const records: SourceRecord[] = batch.messages.map((m) => ({
      partition: batch.partition,
      offset: m.offset,
      timestamp: Number(m.timestamp),
      key: m.key ?? null,
      value: m.value ?? null,
    }));
    this.#queues.add(batch.partition, records, this.#deps.clock.now());
    this.#highWatermarks.set(batch.partition, batch.highWatermark);
    // Only the fetch position moves: offsets are committed once applied and written.
    resolveOffset(last.offset);
    this.#waitingForRecords.notify();
    while (this.#queues.backlog > this.#deps.options.maxQueued && isRunning() && !isStale()) {
      await this.#waitingForRoom.wait(1_000);
      await heartbeat();
    }
  }

  async #work(): Promise<void> {
    while (this.#running) {
      const now = this.#deps.clock.now();
      const slice = this.#queues.take(this.#deps.options.batchSize, now, this.#deps.options.concurrency, this.#unfetched(now));
      if (!slice) {
        const ready = this.#queues.nextReadyAt();
        await this.#waitingForRecords.wait(ready === undefined ? 200 : Math.min(200, Math.max(1, ready - now)));
        continue;
      }
      let applied = false;
      let held: ReadonlyMap<number, ReadonlySet<string>> = new Map();
      try {
        held = await this.#apply(slice);
        applied = true;
      } catch (error) {
        this.#deps.logger.warn({ err: error, partitions: slice.parts.map((p) => p.partition) }, 'applying a slice failed; it is applied again');
        await sleep(this.#deps.options.retryDelayMs);
      } finally {
        this.#queues.release(slice, applied, held, this.#deps.clock.now() + LINK_WAIT_MS);
        // Partitions it held are free again, and what waited for the time it reached may go on.
        this.#waitingForRecords.notify();
      }
      if (this.#queues.backlog <= this.#deps.options.maxQueued) this.#waitingForRoom.notify();
    }
  }

  /**
   * Owned partitions behind their end with nothing queued, with the record time they were
   * fetched up to: slices wait for their records (up to FETCH_WAIT_MS). A partition whose
   * end or position is not known yet (just assigned) counts as behind: else the first
   * slices, taken from the first partitions fetched, run far ahead of the others in
   * receive time, and their links wait, and are taken and decided again, for many slices.
   * Never while the queues are full: fetching waits for room then, and would wait for ever.
   */
  #unfetched(now: number): Map<number, number> {
    const unfetched = new Map<number, number>();
    if (this.#queues.backlog > this.#deps.options.maxQueued) return unfetched;
    for (const partition of this.ownedPartitions) {
      const end = this.#ends.get(partition);
      const fetched = this.#queues.fetchedThrough(partition) ?? this.#positions.position(partition);
      if (this.#queues.pending(partition) || (end !== undefined && fetched !== undefined && fetched >= end)) {
        this.#unfetchedSince.delete(partition);
        continue;
      }
      const since = this.#unfetchedSince.get(partition) ?? now;
      this.#unfetchedSince.set(partition, since);
      if (now - since < FETCH_WAIT_MS) unfetched.set(partition, this.#queues.lastFetchedTime(partition) ?? Number.NEGATIVE_INFINITY);
    }
    return unfetched;
  }

  /** Applies a slice; returns, per partition, the offsets of records left for later (links waiting, and their members' events). */
  async #apply(slice: Slice): Promise<ReadonlyMap<number, ReadonlySet<string>>> {
    const { processor, completion, progress, topics, metrics, clock, options } = this.#deps;
    const result = await processor.process(topics.events.name, slice.records, await this.#historyPublished(slice.parts.map((p) => p.partition)));
    const now = clock.now();
    for (const { event } of result.events) metrics.latency.observe(Math.max(0, now - event.receivedAt) / 1000);
    for (const fetchedAt of slice.fetchedAt) metrics.applyLatency.observe(Math.max(0, now - fetchedAt) / 1000);
    metrics.events.inc({ outcome: 'applied' }, result.applied);
    metrics.events.inc({ outcome: 'duplicate' }, result.duplicates);
    metrics.events.inc({ outcome: 'dead_letter' }, result.deadLetters.length);

    if (options.crashAfterStateProbability > 0 && Math.random() < options.crashAfterStateProbability) {
      // The state is in Redis, the outputs only in the outboxes, nothing committed.
      process.kill(process.pid, 'SIGKILL');
    }
    // A re-read of these records (after a crash, or by a replay under another group) publishes no history again.
    const historyThrough = new Map(
      slice.parts.map((part) => [part.partition, Number(this.#positions.positionAfter(part.partition, part.lastOffset, result.held.get(part.partition))) - 1]),
    );
    await completion.complete({ outboxes: result.outboxes, deadLetters: result.deadLetters, events: result.events }, async () => {
      await Promise.all([progress.recordApplied(result), progress.recordHistoryPublished(historyThrough)]);
      // Kept only for partitions read since the last join (a join meanwhile cleared them: read again).
      for (const [partition, offset] of historyThrough)
        if (offset > (this.#historyThrough.get(partition) ?? Number.POSITIVE_INFINITY)) this.#historyThrough.set(partition, offset);
    });
    for (const part of slice.parts) {
      const { partition } = part;
      // Given away while the slice was applied (and maybe given back, with a queue read again from the committed
      // offset): its positions belong to the new queue, and what this slice took says nothing about them.
      if (!this.#queues.holds(part)) continue;
      // Committed only up to the first record left waiting (a crash reads it again; what was applied after it is skipped).
      const next = this.#positions.applied(partition, part.lastOffset, result.held.get(partition));
      this.#pendingCommits.set(partition, next.toString());
      const highWatermark = this.#highWatermarks.get(partition);
      if (highWatermark !== undefined) metrics.lag.set({ partition: String(partition) }, Math.max(0, Number(highWatermark) - Number(next)));
    }
    return result.held;
  }

  async #historyPublished(partitions: readonly number[]): Promise<Map<number, number>> {
    const unknown = partitions.filter((p) => !this.#historyThrough.has(p));
    if (unknown.length > 0) {
      const read = await this.#deps.progress.historyPublished(unknown);
      for (const p of unknown) this.#historyThrough.set(p, read.get(p) ?? -1);
    }
    return new Map(partitions.map((p) => [p, this.#historyThrough.get(p) ?? -1]));
  }

  /**
   * Marks the partitions this replica owns with nothing left to apply (position at the
   * high watermark, nothing queued) as caught up: idle for event time (EventClock), and
   * with a received frontier of now less the ingest delay (an event received before that
   * is in Kafka, and so applied; links waiting for them go on).
   */
  async markCaughtUp(): Promise<void> {
    const owned = [...this.ownedPartitions];
    if (owned.length === 0 || !this.joined) return;
    const { positions, progress, clock } = this.#deps;
    const ends = await positions.ends();
    for (const [partition, { high }] of ends) this.#ends.set(partition, high);
    if (owned.some((p) => this.#positions.position(p) === undefined)) {
      // Nothing applied here yet: the group reads on from its commit, else from where a new group starts.
      const committed = await positions.committed();
      for (const p of owned) {
        const end = ends.get(p);
        const start = committed.get(p) ?? (this.#deps.options.newGroupStartsAt === 'latest' ? end?.high : end?.low);
        if (start !== undefined) this.#positions.startAt(p, start);
      }
    }
    const now = clock.now();
    const caughtUp = new Map<number, bigint>();
    // Taken to the end with only records waiting at links left: the others' links may pass it (else two such
    // partitions waiting on each other at the end of the log would wait for ever).
    const waiting: number[] = [];
    for (const partition of owned) {
      const end = ends.get(partition)?.high;
      const position = this.#positions.position(partition);
      if (end === undefined || position === undefined) continue;
      if (!this.#queues.pending(partition) && position >= end) caughtUp.set(partition, end);
      else if (this.#queues.onlyLeftWaiting(partition) && (this.#positions.takenThrough(partition) as bigint) >= end) waiting.push(partition);
    }
    await progress.recordCaughtUp(caughtUp, now - this.#deps.options.ingestDelayMs);
    await progress.recordCaughtUpButWaiting(waiting, now - this.#deps.options.ingestDelayMs);
  }

  /** For commits nobody waits on: a failed one leaves its offsets for the next. */
  readonly #reportCommitFailure = (error: unknown): void => this.#deps.logger.warn({ err: error }, 'committing offsets failed; it is retried');

  /**
   * Commits the offsets of every completed slice, in order (a later offset is never
   * overwritten by an earlier one). If it fails, the offsets go back for the next commit,
   * unless a later commit took the partition since or it moved away (PendingCommits).
   */
  async #commit(): Promise<void> {
    const covered = this.#pendingCommits.take();
    if (covered.length === 0) return;
    const topic = this.#deps.topics.events.name;
    const commit = this.#committing
      .catch(() => {})
      .then(() => this.#deps.consumer.commitOffsets(covered.map(([partition, offset]) => ({ topic, partition, offset }))));
    this.#committing = commit;
    try {
      await commit;
    } catch (error) {
      // As on a rebalance, a partition given away meanwhile is left to its new owner.
      this.#pendingCommits.failed(covered, this.ownedPartitions);
      throw error;
    }
  }

  /**
   * On shutdown: fetching pauses, slices in flight finish and their offsets are committed (then the service leaves the group). Queued records not applied yet are
   * read again by whoever owns the partition next.
   */
  async drain(): Promise<void> {
    // Stop fetching but stay in the group: kafkajs refuses commits once the consumer is
    // stopped, so the final commit must come before stop/disconnect.
    if (this.#fetching) this.#deps.consumer.pause([{ topic: this.#deps.topics.events.name }]);
    this.#fetching = false;
    this.#running = false;
    this.#waitingForRecords.notify();
    this.#waitingForRoom.notify();
    await Promise.all(this.#workers);
    clearInterval(this.#commitTimer);
    clearInterval(this.#caughtUpTimer);
    await this.#markingCaughtUp;
    await this.#commit();
  }
}

/** Wakes everyone waiting on it; a wait also ends after its timeout. */
class Signal {
  readonly #waiters = new Set<() => void>();

  wait(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#waiters.add(done);
    });
  }

  notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}
