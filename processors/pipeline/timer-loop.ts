import type { Logger } from '../../lib/logger.ts';
import type { ProcessorMetrics } from '../metrics.ts';
import type { TimerSweeper } from './timer-sweeper.ts';
import type { UnitCompletion } from './unit-completion.ts';

export interface TimerLoopDependencies {
  readonly sweeper: TimerSweeper;
  readonly completion: UnitCompletion;
  readonly ownedShards: () => Iterable<number>;
  /** The time timers fire up to (event time; undefined while not known yet). */
  readonly firesUpTo: () => Promise<number | undefined>;
  readonly intervalMs: number;
  readonly metrics: ProcessorMetrics;
  readonly logger: Logger;
}

/** Sweeps the timer shards this replica owns, on an interval; one sweep at a time. */
export class TimerLoop {
  readonly #deps: TimerLoopDependencies;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(deps: TimerLoopDependencies) {
    this.#deps = deps;
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.#running ??= this.sweepOnce()
        .catch((error: unknown) =>
          this.#deps.logger.error({ err: error instanceof Error ? error.message : String(error) }, 'timer sweep failed; retrying next interval'),
        )
        .finally(() => {
          this.#running = undefined;
        });
    }, this.#deps.intervalMs);
  }

  async sweepOnce(): Promise<void> {
    const { sweeper, completion, metrics } = this.#deps;
    const until = await this.#deps.firesUpTo();
    if (until === undefined) return;
    metrics.eventTime.set(until / 1000);
    for (const shard of this.#deps.ownedShards()) {
      const result = await sweeper.sweep(shard, until);
      if (result.due === 0) continue;
      metrics.timersDue.inc(result.due);
      metrics.timersFired.inc(result.fired);
      await completion.complete({ outboxes: result.outboxes });
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }
}
