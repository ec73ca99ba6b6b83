import type { Clock } from '../../lib/clock.ts';
import { errorMessage } from '../../lib/errors.ts';
import type { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import type { Logger } from '../../lib/logger.ts';
import type { DeadLetterRecord } from '../../schemas/records.ts';
import type { Topics } from '../../schemas/topics.ts';
import type { BufferedHistory } from '../history/buffered-history.ts';
import type { PackedEvents } from '../history/history-writer.ts';
import type { IdentityChange } from '../identity/identity-changes.ts';
import type { ProcessorMetrics } from '../metrics.ts';
import { type MemberStore, type OutboxEntry, outputsIn } from '../store/member-store.ts';
import type { OutboxInFlight } from './outbox-in-flight.ts';
import type { OutputPublisher } from './output-publisher.ts';

export interface UnitOutputs {
  /** Per member, the outbox entries to publish (from MemberDriver.run). */
  readonly outboxes: ReadonlyMap<string, readonly OutboxEntry[]>;
  readonly deadLetters?: readonly DeadLetterRecord[];
  readonly events?: PackedEvents;
  readonly identityChanges?: readonly IdentityChange[];
}

export interface UnitCompletionDependencies {
  readonly publisher: OutputPublisher;
  readonly producer: TopicProducer;
  readonly topics: Topics;
  readonly history: BufferedHistory;
  readonly store: MemberStore;
  readonly inFlight: OutboxInFlight;
  readonly metrics: ProcessorMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * What every unit of work does once its members are saved, in this order: dead letters
 * and outputs are published (acks=all), the unit's history (events, identity changes and
 * the outputs) goes to the history buffer, and only once a flush has written it are the
 * outputs removed from the members' outboxes. A crash anywhere in between leaves them in
 * the outboxes, to be published and written again with the same ids.
 */
export class UnitCompletion {
  readonly #deps: UnitCompletionDependencies;

  constructor(deps: UnitCompletionDependencies) {
    this.#deps = deps;
  }

  async complete(unit: UnitOutputs): Promise<void> {
    const { publisher, producer, topics, history, store, inFlight, metrics, clock, logger } = this.#deps;
    const outputs = outputsIn(unit.outboxes);
    try {
      const deadLetters = unit.deadLetters ?? [];
      if (deadLetters.length > 0) {
        await producer.send(
          topics.deadLetters,
          deadLetters.map((d) => ({ key: `${d.sourceTopic}/${d.sourcePartition}`, value: d })),
        );
        for (const d of deadLetters) metrics.deadLetters.inc({ reason: d.reason });
      }
      await publisher.publish(unit.outboxes);
    } catch (error) {
      // Left in the outboxes: the next unit that reads these members publishes them.
      inFlight.release(unit.outboxes);
      throw error;
    }
    const acknowledge = async () => {
      try {
        await store.acknowledgeOutbox(unit.outboxes);
      } catch (error) {
        logger.warn({ err: errorMessage(error) }, 'published outputs could not be removed from the outboxes; they will be published again with the same ids');
      } finally {
        inFlight.release(unit.outboxes);
      }
    };
    history.add({ events: unit.events ? [unit.events] : [], identityChanges: [...(unit.identityChanges ?? [])], ...outputs }, clock.now(), acknowledge);
  }
}
