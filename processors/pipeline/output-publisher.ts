import type { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import type { LifecycleTransitionRecord } from '../../schemas/records.ts';
import type { Topics } from '../../schemas/topics.ts';
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

  constructor(producer: TopicProducer, topics: Topics, store: MemberStore) {
    this.#producer = producer;
    this.#topics = topics;
    this.#store = store;
  }

  async publish(outboxes: ReadonlyMap<string, readonly OutboxEntry[]>): Promise<number> {
    const lifecycle: { key: string; value: LifecycleTransitionRecord }[] = [];
    const published = new Map<string, number>();
    for (const [memberId, entries] of outboxes) {
      if (entries.length === 0) continue;
      for (const entry of entries) {
        if (entry.topic !== 'lifecycle') throw new Error(`outbox entry for topic ${entry.topic} has no publisher yet`);
        lifecycle.push({ key: memberId, value: entry.record as unknown as LifecycleTransitionRecord });
      }
      published.set(memberId, entries.length);
    }
    await this.#producer.send(this.#topics.lifecycle, lifecycle);
    await this.#store.acknowledgeOutbox(published);
    return lifecycle.length;
  }
}
