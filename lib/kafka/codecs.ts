import { AvroCodec } from '../../schemas/codec.ts';
import type { SchemaRegistry } from '../../schemas/schema-registry.ts';
import { allTopics, type Topic, type Topics } from '../../schemas/topics.ts';

/** One Avro codec per topic, created once at start-up (registering schemas if needed). */
export interface TopicCodecs {
  codecFor<V>(topic: Topic<V>): AvroCodec<V>;
}

export async function createTopicCodecs(registry: SchemaRegistry, topics: Topics): Promise<TopicCodecs> {
  const bySubject = new Map<string, AvroCodec<unknown>>();
  for (const topic of allTopics(topics)) {
    if (!bySubject.has(topic.subject)) bySubject.set(topic.subject, await AvroCodec.create(registry, topic.subject, topic.valueSchema));
  }
  return {
    codecFor<V>(topic: Topic<V>): AvroCodec<V> {
      const codec = bySubject.get(topic.subject);
      if (!codec) throw new Error(`no codec for topic ${topic.name} (subject ${topic.subject})`);
      return codec as AvroCodec<V>;
    },
  };
}
