import type { PartitionProgress } from '../store/partition-progress.ts';

/**
 * The event time the engine has reached, which time-driven work (timers, backfills)
 * follows instead of the wall clock: the lowest stream time over every partition of the
 * events topic, less the allowed lateness. A partition's stream time is the latest event
 * time applied from it, or the wall clock while it is caught up; so a replay of old
 * events fires each timer at the point of the log where live processing did, and a live
 * engine fires "silent on day 31" on day 31 with no event. Undefined until every
 * partition has a stream time.
 */
export class EventClock {
  readonly #progress: PartitionProgress;
  readonly #partitions: () => number | undefined;
  readonly #allowedLatenessMs: number;

  constructor(progress: PartitionProgress, partitions: () => number | undefined, allowedLatenessMs: number) {
    this.#progress = progress;
    this.#partitions = partitions;
    this.#allowedLatenessMs = allowedLatenessMs;
  }

  async now(): Promise<number | undefined> {
    const partitions = this.#partitions();
    if (partitions === undefined || partitions === 0) return undefined;
    let lowest = Number.POSITIVE_INFINITY;
    for (const time of await this.#progress.streamTimes(partitions)) {
      if (time === undefined) return undefined;
      lowest = Math.min(lowest, time);
    }
    return lowest - this.#allowedLatenessMs;
  }
}
