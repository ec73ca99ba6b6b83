import type { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import type { LifecycleTransitionRecord, SegmentChangeRecord, TriggerFiringRecord } from '../../schemas/records.ts';
import type { Topics } from '../../schemas/topics.ts';
import type { ProcessorMetrics } from '../metrics.ts';
import type { MemberStore, OutboxEntry } from '../store/member-store.ts';

/**
 * Publishes members' outboxes (acks=all), then removes the published entries. A crash in
 * between publishes them again later with the same deterministic ids; consumers drop
 * the duplicates.
 */
export class OutputPublisher {
  readonly #producer: TopicProducer;
  readonly #topics: Topics;
  readonly #store: MemberStore;
  readonly #metrics: ProcessorMetrics;

  constructor(producer: TopicProducer, topics: Topics, store: MemberStore, metrics: ProcessorMetrics) {
    this.#producer = producer;
    this.#topics = topics;
    this.#store = store;
    this.#metrics = metrics;
  }

  async publish(outboxes: ReadonlyMap<string, readonly OutboxEntry[]>): Promise<void> {
    const lifecycle: { key: string; value: LifecycleTransitionRecord }[] = [];
    const segmentChanges: { key: string; value: SegmentChangeRecord }[] = [];
    const triggers: { key: string; value: TriggerFiringRecord }[] = [];
    for (const [memberId, entries] of outboxes) {
      for (const entry of entries) {
        if (entry.topic === 'lifecycle') lifecycle.push({ key: memberId, value: entry.record as unknown as LifecycleTransitionRecord });
        else if (entry.topic === 'segmentChanges') segmentChanges.push({ key: memberId, value: entry.record as unknown as SegmentChangeRecord });
        else triggers.push({ key: memberId, value: entry.record as unknown as TriggerFiringRecord });
      }
    }
    await Promise.all([
      this.#producer.send(this.#topics.lifecycle, lifecycle),
      this.#producer.send(this.#topics.segmentChanges, segmentChanges),
      this.#producer.send(this.#topics.triggers, triggers),
    ]);
    // Everything sent is acknowledged, entry by entry (members without entries add no command).
    await this.#store.acknowledgeOutbox(outboxes);
    this.#metrics.outputs.inc({ topic: 'lifecycle' }, lifecycle.length);
    this.#metrics.outputs.inc({ topic: 'segmentChanges' }, segmentChanges.length);
    this.#metrics.outputs.inc({ topic: 'triggers' }, triggers.length);
  }
}
