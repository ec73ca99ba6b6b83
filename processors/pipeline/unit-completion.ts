import { errorMessage } from '../../lib/errors.ts';
import type { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import type { Logger } from '../../lib/logger.ts';
import type { DeadLetterRecord } from '../../schemas/records.ts';
import type { Topics } from '../../schemas/topics.ts';
import type { ProcessorMetrics } from '../metrics.ts';
import type { MemberStore, OutboxEntry } from '../store/member-store.ts';
import type { AppliedEvent, MemberEventEncoder } from './member-events.ts';
import type { OutboxInFlight } from './outbox-in-flight.ts';
import { outputRecords } from './output-records.ts';

export interface UnitOutputs {
  /** Per member, the outbox entries to publish (from MemberDriver.run). */
  readonly outboxes: ReadonlyMap<string, readonly OutboxEntry[]>;
  readonly deadLetters?: readonly DeadLetterRecord[];
  /** Events applied, for history (the member-events topic). */
  readonly events?: readonly AppliedEvent[];
}

export interface UnitCompletionDependencies {
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
 * writes them and the rest to ClickHouse) are published, acks=all, in one send: one
 * request per broker, not one per topic (live, a unit holds a few events; at 1,000
 * events/s units made 4 produce requests each, one after another), and only then are the
 * entries removed from the members' outboxes. A crash before that leaves them in the outboxes, to be published
 * again with the same ids; the caller commits the unit's offsets after this resolves.
 */
export class UnitCompletion {
  readonly #deps: UnitCompletionDependencies;

  constructor(deps: UnitCompletionDependencies) {
    this.#deps = deps;
  }

  /**
   * `alongOutboxes`: what the caller records once the unit is published (its progress),
   * started with the outbox removal so both go to Redis in one round trip; its failure
   * fails the unit, unlike the removal's.
   */
  async complete(unit: UnitOutputs, alongOutboxes?: () => Promise<void>): Promise<void> {
    const { producer, topics, memberEvents, store, inFlight, metrics, logger } = this.#deps;
    const deadLetters = unit.deadLetters ?? [];
    const events = unit.events ?? [];
    try {
      const { batches, counts } = outputRecords(producer, topics, unit.outboxes);
      if (deadLetters.length > 0)
        batches.push({
          topic: topics.deadLetters.name,
          records: producer.encode(
            topics.deadLetters,
            deadLetters.map((d) => ({ key: `${d.sourceTopic}/${d.sourcePartition}`, value: d })),
          ),
        });
      if (events.length > 0) batches.push({ topic: topics.memberEvents.name, records: memberEvents.messages(events) });
      await producer.sendBatches(batches);
      for (const d of deadLetters) metrics.deadLetters.inc({ reason: d.reason });
      for (const [topic, count] of Object.entries(counts)) metrics.outputs.inc({ topic }, count);
    } catch (error) {
      // Left in the outboxes: the next unit that reads these members publishes them.
      inFlight.release(unit.outboxes);
      throw error;
    }
    const acknowledged = store
      .acknowledgeOutbox(unit.outboxes)
      .catch((error: unknown) =>
        logger.warn({ err: errorMessage(error) }, 'published outputs could not be removed from the outboxes; they will be published again with the same ids'),
      )
      .finally(() => inFlight.release(unit.outboxes));
    await Promise.all([acknowledged, alongOutboxes?.()]);
  }
}
