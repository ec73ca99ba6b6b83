import type { KeyedRecord, TopicBatch, TopicProducer } from '../../lib/kafka/topic-producer.ts';
import type { IdentityChangeRecord, LifecycleTransitionRecord, SegmentChangeRecord, TriggerFiringRecord } from '../../schemas/records.ts';
import type { Topic, Topics } from '../../schemas/topics.ts';
import type { OutboxEntry } from '../store/member-store.ts';

/** How many records of each output topic a unit publishes (for the outputs counter). */
export interface OutputCounts {
  readonly lifecycle: number;
  readonly segmentChanges: number;
  readonly triggers: number;
}

/**
 * Members' outbox entries as records of their topics, keyed by member, encoded for one
 * send with the unit's other records (UnitCompletion). Removing them from the outboxes is
 * the caller's, once they are published; a crash in between publishes them again later
 * with the same deterministic ids, which consumers drop.
 */
export function outputRecords(
  producer: TopicProducer,
  topics: Topics,
  outboxes: ReadonlyMap<string, readonly OutboxEntry[]>,
): { batches: TopicBatch[]; counts: OutputCounts } {
  const lifecycle: KeyedRecord<LifecycleTransitionRecord>[] = [];
  const segmentChanges: KeyedRecord<SegmentChangeRecord>[] = [];
  const triggers: KeyedRecord<TriggerFiringRecord>[] = [];
  const identityChanges: KeyedRecord<IdentityChangeRecord>[] = [];
  for (const [memberId, entries] of outboxes) {
    for (const entry of entries) {
      if (entry.topic === 'lifecycle') lifecycle.push({ key: memberId, value: entry.record });
      else if (entry.topic === 'segmentChanges') segmentChanges.push({ key: memberId, value: entry.record });
      else if (entry.topic === 'triggers') triggers.push({ key: memberId, value: entry.record });
      else identityChanges.push({ key: memberId, value: entry.record });
    }
  }
  const batches: TopicBatch[] = [];
  const add = <V>(topic: Topic<V>, records: readonly KeyedRecord<V>[]) => {
    if (records.length > 0) batches.push({ topic: topic.name, records: producer.encode(topic, records) });
  };
  add(topics.lifecycle, lifecycle);
  add(topics.segmentChanges, segmentChanges);
  add(topics.triggers, triggers);
  add(topics.identityChanges, identityChanges);
  return { batches, counts: { lifecycle: lifecycle.length, segmentChanges: segmentChanges.length, triggers: triggers.length } };
}
