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
    if (this.#events.length + this.#changes.length + this.#transitions.length === 0) this.#since = now;
    this.#events.push(...events);
    this.#changes.push(...changes);
    this.#transitions.push(...transitions);
  }

  /** Whether enough rows (or old enough rows) wait that a flush is due. */
  due(now: number): boolean {
    const rows = this.#events.length + this.#changes.length + this.#transitions.length;
    return rows >= this.#maxRows || (rows > 0 && now - this.#since >= this.#maxAgeMs);
  }

  /** Writes everything added so far; concurrent callers wait for the same flushes. */
  flush(): Promise<void> {
    const events = this.#events;
    const changes = this.#changes;
    const transitions = this.#transitions;
    this.#events = [];
    this.#changes = [];
    this.#transitions = [];
    // Flushes run one after another; a failed one fails this caller, whose rows are then lost from the buffer but not from Kafka: nothing is committed and the records come again.
    this.#flushing = this.#flushing.catch(() => {}).then(() => this.#writer.write(events, changes, transitions));
    return this.#flushing;
  }
}
