import type { Clock } from '../../lib/clock.ts';
import type { PartitionClock, PartitionProgress } from '../store/partition-progress.ts';

/**
 * The event time the engine has reached, which time-driven work (timers, backfills)
 * follows instead of the wall clock, less the allowed lateness. While some partitions
 * have records to apply, it is the lowest stream time (latest event time applied) among
 * them: a replay of old events fires each timer at the point of the log where live
 * processing fired it. Caught-up partitions are idle and do not hold it back (Flink's
 * idle sources). When every partition is caught up it is the wall clock, so live a
 * member turns silent on day 31 with no event; but until nothing has been received for
 * `quietMs` it moves on only from the latest event (its time plus the time passed since
 * it was received), so a history sent in a burst, months of events received within
 * seconds, does not jump to today between two requests of the burst.
 */
export function eventTimeOf(partitions: readonly PartitionClock[], now: number, settings: { allowedLatenessMs: number; quietMs: number }): number | undefined {
  let busy: number | undefined;
  let following: number | undefined;
  let latestReceipt: number | undefined;
  for (const { streamTime, lastReceivedAt, idle } of partitions) {
    if (!idle) {
      if (streamTime === undefined) return undefined; // a partition not yet read holds event time back
      busy = busy === undefined ? streamTime : Math.min(busy, streamTime);
    } else if (streamTime !== undefined && lastReceivedAt !== undefined) {
      const time = streamTime + Math.max(0, now - lastReceivedAt);
      following = following === undefined ? time : Math.max(following, time);
      latestReceipt = latestReceipt === undefined ? lastReceivedAt : Math.max(latestReceipt, lastReceivedAt);
    }
  }
  if (partitions.length === 0) return undefined;
  const quiet = latestReceipt === undefined || now - latestReceipt >= settings.quietMs;
  const time = busy ?? (quiet ? now : (following as number));
  return time - settings.allowedLatenessMs;
}

/**
 * eventTimeOf over what the partitions' owners recorded in Redis. A partition recorded
 * caught up counts as idle only while its high watermark has not moved since: records
 * that landed after (and may not be fetched yet) hold event time back at once, not only
 * once their partition's owner has applied some of them.
 */
export class EventClock {
  readonly #progress: PartitionProgress;
  readonly #ends: () => Promise<ReadonlyMap<number, { readonly high: bigint }>>;
  readonly #partitions: () => number | undefined;
  readonly #clock: Clock;
  readonly #settings: { allowedLatenessMs: number; quietMs: number };

  constructor(deps: {
    progress: PartitionProgress;
    /** The events topic's partitions' high watermarks now. */
    ends: () => Promise<ReadonlyMap<number, { readonly high: bigint }>>;
    partitions: () => number | undefined;
    clock: Clock;
    settings: { allowedLatenessMs: number; quietMs: number };
  }) {
    this.#progress = deps.progress;
    this.#ends = deps.ends;
    this.#partitions = deps.partitions;
    this.#clock = deps.clock;
    this.#settings = deps.settings;
  }

  async now(): Promise<number | undefined> {
    const partitions = this.#partitions();
    if (partitions === undefined || partitions === 0) return undefined;
    const [recorded, ends] = await Promise.all([this.#progress.clocks(partitions), this.#ends()]);
    const clocks = recorded.map(({ streamTime, lastReceivedAt, idleAt }, partition) => {
      const high = ends.get(partition)?.high;
      return { streamTime, lastReceivedAt, idle: idleAt !== undefined && high !== undefined && idleAt >= high };
    });
    return eventTimeOf(clocks, this.#clock.now(), this.#settings);
  }
}
