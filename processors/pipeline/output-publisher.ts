import type { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import type { IdentityChangeRecord, LifecycleTransitionRecord, SegmentChangeRecord, TriggerFiringRecord } from '../../schemas/records.ts';
import type { Topics } from '../../schemas/topics.ts';
import type { ProcessorMetrics } from '../metrics.ts';
import type { OutboxEntry } from '../store/member-store.ts';

/**
 * Publishes members' outbox entries to their topics (acks=all), keyed by member. Removing
 * them from the outboxes is the caller's (UnitCompletion, once they are published);
 * a crash in between publishes them again later with the same deterministic ids, which
 * consumers drop.
 */
export class OutputPublisher {
  readonly #producer: TopicProducer;
  readonly #topics: Topics;
  readonly #metrics: ProcessorMetrics;

  constructor(producer: TopicProducer, topics: Topics, metrics: ProcessorMetrics) {
    this.#producer = producer;
    this.#topics = topics;
    this.#metrics = metrics;
  }

  async publish(outboxes: ReadonlyMap<string, readonly OutboxEntry[]>): Promise<void> {
    const lifecycle: { key: string; value: LifecycleTransitionRecord }[] = [];
    const segmentChanges: { key: string; value: SegmentChangeRecord }[] = [];
    const triggers: { key: string; value: TriggerFiringRecord }[] = [];
    const identityChanges: { key: string; value: IdentityChangeRecord }[] = [];
    for (const [memberId, entries] of outboxes) {
      for (const entry of entries) {
        if (entry.topic === 'lifecycle') lifecycle.push({ key: memberId, value: entry.record });
        else if (entry.topic === 'segmentChanges') segmentChanges.push({ key: memberId, value: entry.record });
        else if (entry.topic === 'triggers') triggers.push({ key: memberId, value: entry.record });
        else identityChanges.push({ key: memberId, value: entry.record });
      }
    }
    await Promise.all([
      this.#producer.send(this.#topics.lifecycle, lifecycle),
      this.#producer.send(this.#topics.segmentChanges, segmentChanges),
      this.#producer.send(this.#topics.triggers, triggers),
      this.#producer.send(this.#topics.identityChanges, identityChanges),
    ]);
    this.#metrics.outputs.inc({ topic: 'lifecycle' }, lifecycle.length);
    this.#metrics.outputs.inc({ topic: 'segmentChanges' }, segmentChanges.length);
    this.#metrics.outputs.inc({ topic: 'triggers' }, triggers.length);
  }
}
