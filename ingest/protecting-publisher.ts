import type { KeyedRecord } from '../lib/kafka/topic-producer.ts';
import type { EventRecord } from '../schemas/records.ts';
import { eventsTopicKey } from '../schemas/topics.ts';
import type { EventPublisher } from './publisher.ts';

/**
 * Publishes events with their personal data protected (docs/privacy.md): nothing plain
 * reaches Kafka, the record key (a user id may be a phone number) included.
 */
export function protectingPublisher(inner: EventPublisher, protect: (event: EventRecord) => EventRecord): EventPublisher {
  return {
    publish: (records: readonly KeyedRecord<EventRecord>[]) =>
      inner.publish(
        records.map((record) => {
          const value = protect(record.value);
          return value === record.value ? record : { ...record, key: eventsTopicKey(value), value };
        }),
      ),
    get pending() {
      return inner.pending;
    },
    drain: () => inner.drain(),
  };
}
