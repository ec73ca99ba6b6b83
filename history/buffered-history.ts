import type { IdentityChangeRecord, LifecycleTransitionRecord, SegmentChangeRecord, TriggerFiringRecord } from '../schemas/records.ts';

import { type HistoryBatch, type HistorySink, historyRows, type PackedEvents } from './history-writer.ts';

/**
 * Collects history rows of several polls and writes them in one go: ClickHouse prefers
 * few large inserts. Callers commit offsets only after a flush that covered their rows
 * succeeded, so history is never behind a committed offset.
 */
export class BufferedHistory {
  readonly #writer: HistorySink;
  readonly #maxRows: number;
  readonly #maxAgeMs: number;
  #events: PackedEvents[] = [];
  #changes: IdentityChangeRecord[] = [];
  #transitions: LifecycleTransitionRecord[] = [];
  #segmentChanges: SegmentChangeRecord[] = [];
  #triggerFirings: TriggerFiringRecord[] = [];
  /** Run once the rows added with them are written (e.g. removing the outbox entries they hold). */
  #onWritten: (() => Promise<void>)[] = [];
  #since = 0;
  #flushing: Promise<void> = Promise.resolve();
  #writesInFlight = 0;

  constructor(writer: HistorySink, options: { maxRows: number; maxAgeMs: number }) {
    this.#writer = writer;
    this.#maxRows = options.maxRows;
    this.#maxAgeMs = options.maxAgeMs;
  }

  /** Adds rows; `onWritten` runs after the flush that writes them (it must not throw). */
  add(batch: HistoryBatch, now: number, onWritten?: () => Promise<void>): void {
    if (this.#rows() === 0) this.#since = now;
    if (onWritten) this.#onWritten.push(onWritten);
    this.#events.push(...batch.events);
    this.#changes.push(...batch.identityChanges);
    this.#transitions.push(...batch.transitions);
    this.#segmentChanges.push(...batch.segmentChanges);
    this.#triggerFirings.push(...batch.triggerFirings);
  }

  /** Whether enough rows (or old enough rows) wait that a flush is due. */
  due(now: number): boolean {
    return this.full() || (this.#rows() > 0 && now - this.#since >= this.#maxAgeMs);
  }

  /** Whether the buffer holds as many rows as one insert should carry. */
  full(): boolean {
    return this.#rows() >= this.#maxRows;
  }

  /** Rows waiting for the next flush. */
  get pendingRows(): number {
    return historyRows(this.#batch());
  }

  /** Flushes started and not finished (written or failed). */
  get writesInFlight(): number {
    return this.#writesInFlight;
  }

  #rows(): number {
    // A unit with outputs already published and nothing to write still waits for a flush to be acknowledged.
    return historyRows(this.#batch()) + this.#onWritten.length;
  }

  #batch(): HistoryBatch {
    return {
      events: this.#events,
      identityChanges: this.#changes,
      transitions: this.#transitions,
      segmentChanges: this.#segmentChanges,
      triggerFirings: this.#triggerFirings,
    };
  }

  /**
   * Writes everything added so far; flushes run one after another. Rows of a failed
   * write go back to the front of the buffer, so the next flush writes them. A flush
   * started while an earlier one was still writing fails with it (it does not hold the
   * rows put back): so a flush that succeeds means every row added before it is in
   * ClickHouse, and nothing is committed past rows that are not.
   */
  flush(): Promise<void> {
    const batch = this.#batch();
    const since = this.#since;
    const onWritten = this.#onWritten;
    this.#onWritten = [];
    this.#events = [];
    this.#changes = [];
    this.#transitions = [];
    this.#segmentChanges = [];
    this.#triggerFirings = [];
    this.#writesInFlight++;
    const write = this.#flushing
      .then(() => this.#writer.write(batch))
      .then(async () => {
        await Promise.all(onWritten.map((callback) => callback()));
      })
      .finally(() => {
        this.#writesInFlight--;
      })
      .catch((error: unknown) => {
        this.#since = since;
        this.#onWritten = [...onWritten, ...this.#onWritten];
        this.#events = [...batch.events, ...this.#events];
        this.#changes = [...batch.identityChanges, ...this.#changes];
        this.#transitions = [...batch.transitions, ...this.#transitions];
        this.#segmentChanges = [...batch.segmentChanges, ...this.#segmentChanges];
        this.#triggerFirings = [...batch.triggerFirings, ...this.#triggerFirings];
        throw error;
      });
    this.#flushing = write;
    // Once the last flush has failed (and its rows are back), the next one starts afresh.
    write.catch(() => {
      if (this.#flushing === write) this.#flushing = Promise.resolve();
    });
    return write;
  }
}
