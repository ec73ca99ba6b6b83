import { errorMessage } from '../../lib/errors.ts';
import type { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import type { Logger } from '../../lib/logger.ts';
import type { DeadLetterRecord } from '../../schemas/records.ts';
import type { Topics } from '../../schemas/topics.ts';
import type { ProcessorMetrics } from '../metrics.ts';
import type { MemberStore, OutboxEntry } from '../store/member-store.ts';
import type { AppliedEvent, MemberEventEncoder } from './member-events.ts';
import type { OutboxInFlight } from './outbox-in-flight.ts';
import type { OutputPublisher } from './output-publisher.ts';

export interface UnitOutputs {
  /** Per member, the outbox entries to publish (from MemberDriver.run). */
  readonly outboxes: ReadonlyMap<string, readonly OutboxEntry[]>;
  readonly deadLetters?: readonly DeadLetterRecord[];
  /** Events applied, for history (the member-events topic). */
  readonly events?: readonly AppliedEvent[];
}

export interface UnitCompletionDependencies {
  readonly publisher: OutputPublisher;
  readonly producer: TopicProducer;
  readonly topics: Topics;
  readonly memberEvents: MemberEventEncoder;
  readonly store: MemberStore;
  readonly inFlight: OutboxInFlight;
  readonly metrics: ProcessorMetrics;
  readonly logger: Logger;
}

/**
 * What every unit of work does once its members are saved: dead letters, the outbox
 * entries (outputs and identity changes) and the member events (the history service
 * writes them and the rest to ClickHouse) are published, acks=all, and only then are the
 * entries removed from the members' outboxes. A crash before that leaves them in the outboxes, to be published
 * again with the same ids; the caller commits the unit's offsets after this resolves.
 */
export class UnitCompletion {
  readonly #deps: UnitCompletionDependencies;

  constructor(deps: UnitCompletionDependencies) {
    this.#deps = deps;
  }

  async complete(unit: UnitOutputs): Promise<void> {
    const { publisher, producer, topics, memberEvents, store, inFlight, metrics, logger } = this.#deps;
    const deadLetters = unit.deadLetters ?? [];
    const events = unit.events ?? [];
    try {
      await Promise.all([
        deadLetters.length > 0 &&
          producer
            .send(
              topics.deadLetters,
              deadLetters.map((d) => ({ key: `${d.sourceTopic}/${d.sourcePartition}`, value: d })),
            )
            .then(() => {
              for (const d of deadLetters) metrics.deadLetters.inc({ reason: d.reason });
            }),
        events.length > 0 && producer.sendEncoded(topics.memberEvents, memberEvents.messages(events)),
        publisher.publish(unit.outboxes),
      ]);
    } catch (error) {
      // Left in the outboxes: the next unit that reads these members publishes them.
      inFlight.release(unit.outboxes);
      throw error;
    }
    try {
      await store.acknowledgeOutbox(unit.outboxes);
    } catch (error) {
      logger.warn({ err: errorMessage(error) }, 'published outputs could not be removed from the outboxes; they will be published again with the same ids');
    } finally {
      inFlight.release(unit.outboxes);
    }
  }
}
