import { loadSchemaCatalog } from '../../schemas/catalog.ts';
import { AvroCodec } from '../../schemas/codec.ts';
import { ConfluentSchemaRegistry, FileSchemaRegistry, type SchemaRegistry } from '../../schemas/schema-registry.ts';
import { allTopics, buildTopics, type Topic, type Topics, topicNamesFromConfig } from '../../schemas/topics.ts';

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

export interface TopicSetup {
  readonly topics: Topics;
  readonly registry: SchemaRegistry;
  readonly codecs: TopicCodecs;
}

/**
 * What every service's composition root needs to talk Avro on its topics: the topic
 * registry under the configured names, the schema registry (Confluent when
 * SCHEMA_REGISTRY_URL is set, the files in schemas/ otherwise) and one codec per topic.
 */
export async function loadTopicSetup(
  config: Parameters<typeof topicNamesFromConfig>[0] & { readonly SCHEMA_REGISTRY_URL: string | undefined },
): Promise<TopicSetup> {
  const catalog = await loadSchemaCatalog();
  const topics = buildTopics(topicNamesFromConfig(config), catalog);
  const registry = config.SCHEMA_REGISTRY_URL ? new ConfluentSchemaRegistry(config.SCHEMA_REGISTRY_URL) : new FileSchemaRegistry(catalog);
  return { topics, registry, codecs: await createTopicCodecs(registry, topics) };
}
