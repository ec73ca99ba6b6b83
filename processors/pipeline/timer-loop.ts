import type { Logger } from '../../lib/logger.ts';
import type { HistorySink } from '../history/history-writer.ts';
import type { ProcessorMetrics } from '../metrics.ts';
import { lifecycleRecordsIn, segmentChangesIn, triggerFiringsIn } from '../store/member-store.ts';
import type { OutputPublisher } from './output-publisher.ts';
import type { TimerSweeper } from './timer-sweeper.ts';

export interface TimerLoopDependencies {
  readonly sweeper: TimerSweeper;
  readonly publisher: OutputPublisher;
  readonly history: HistorySink;
  readonly ownedShards: () => Iterable<number>;
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
    const { sweeper, publisher, history, metrics } = this.#deps;
    for (const shard of this.#deps.ownedShards()) {
      const result = await sweeper.sweep(shard);
      if (result.due === 0) continue;
      metrics.timersDue.inc(result.due);
      metrics.timersFired.inc(result.fired);
      await history.write({
        events: [],
        identityChanges: [],
        transitions: lifecycleRecordsIn(result.outboxes),
        segmentChanges: segmentChangesIn(result.outboxes),
        triggerFirings: triggerFiringsIn(result.outboxes),
      });
      await publisher.publish(result.outboxes);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }
}
