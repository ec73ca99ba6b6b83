import type { EventRecord, LifecycleTransitionRecord } from '../../schemas/records.ts';
import type { IdentityChange } from '../pipeline/batch-processor.ts';
import type { HistoryWriter } from './history-writer.ts';

/**
 * Collects history rows of several polls and writes them in one go: ClickHouse prefers
 * few large inserts. Callers commit offsets only after a flush that covered their rows
 * succeeded, so history is never behind a committed offset.
 */
export class BufferedHistory {
  readonly #writer: HistoryWriter;
  readonly #maxRows: number;
  readonly #maxAgeMs: number;
  #events: { memberId: string; event: EventRecord }[] = [];
  #changes: IdentityChange[] = [];
  #transitions: LifecycleTransitionRecord[] = [];
  #since = 0;
  #flushing: Promise<void> = Promise.resolve();

  constructor(writer: HistoryWriter, options: { maxRows: number; maxAgeMs: number }) {
    this.#writer = writer;
    this.#maxRows = options.maxRows;
    this.#maxAgeMs = options.maxAgeMs;
  }

  add(
    events: readonly { memberId: string; event: EventRecord }[],
    changes: readonly IdentityChange[],
    transitions: readonly LifecycleTransitionRecord[],
    now: number,
  ): void {
    if (this.#rows() === 0) this.#since = now;
    this.#events.push(...events);
    this.#changes.push(...changes);
    this.#transitions.push(...transitions);
  }

  /** Whether enough rows (or old enough rows) wait that a flush is due. */
  due(now: number): boolean {
    return this.full() || (this.#rows() > 0 && now - this.#since >= this.#maxAgeMs);
  }

  /** Whether the buffer holds as many rows as one insert should carry. */
  full(): boolean {
    return this.#rows() >= this.#maxRows;
  }

  #rows(): number {
    return this.#events.length + this.#changes.length + this.#transitions.length;
  }

  /**
   * Writes everything added so far; flushes run one after another. Rows of a failed
   * write go back to the front of the buffer, so the next flush writes them: nothing
   * is committed past rows that are not in ClickHouse.
   */
  flush(): Promise<void> {
    const events = this.#events;
    const changes = this.#changes;
    const transitions = this.#transitions;
    const since = this.#since;
    this.#events = [];
    this.#changes = [];
    this.#transitions = [];
    const write = this.#flushing
      .catch(() => {})
      .then(() => this.#writer.write(events, changes, transitions))
      .catch((error: unknown) => {
        this.#since = since;
        this.#events = [...events, ...this.#events];
        this.#changes = [...changes, ...this.#changes];
        this.#transitions = [...transitions, ...this.#transitions];
        throw error;
      });
    this.#flushing = write;
    return write;
  }
}
