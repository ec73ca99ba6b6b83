import { CompressionTypes, type Kafka, type Message, Partitioners, type Producer, type RecordMetadata } from 'kafkajs';
import type { Topic } from '../../schemas/topics.ts';
import type { TopicCodecs } from './codecs.ts';
import { sendChunks } from './send-chunks.ts';

export interface KeyedRecord<V> {
  readonly key: string;
  readonly value: V;
  /** The Kafka record's time, epoch ms (default: when it is sent). Events carry ingest's receive time. */
  readonly timestamp?: number;
}

export interface TopicProducerOptions {
  /**
   * Idempotent producer: the broker drops a retried request it has stored already (a
   * response lost on the way back), so a retry never duplicates records. It retries a
   * failing send for as long as it takes instead of giving up: giving up would roll its
   * sequence numbers back and the next send could be taken for that duplicate.
   */
  readonly idempotent?: boolean;
}

/**
 * Produces typed values to registry topics, Avro-encoded in the Confluent wire format.
 * Every send waits for all in-sync replicas (acks=all): a resolved send means stored.
 */
export class TopicProducer {
  readonly #producer: Producer;
  readonly #codecs: TopicCodecs;

  constructor(kafka: Kafka, codecs: TopicCodecs, options: TopicProducerOptions = {}) {
    // Keys hash with the Java client's murmur2 so other-language producers agree on partitions.
    // One request in flight per broker so a retried request cannot overtake a later one.
    this.#producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
      maxInFlightRequests: 1,
      idempotent: options.idempotent ?? false,
    });
    this.#codecs = codecs;
  }

  connect(): Promise<void> {
    return this.#producer.connect();
  }

  disconnect(): Promise<void> {
    return this.#producer.disconnect();
  }

  async send<V>(topic: Topic<V>, records: readonly KeyedRecord<V>[]): Promise<RecordMetadata[]> {
    return this.sendEncoded(topic, this.encode(topic, records));
  }

  /** Encodes records for a topic without sending them; throws if a value does not fit the schema. */
  encode<V>(topic: Topic<V>, records: readonly KeyedRecord<V>[]): Message[] {
    const codec = this.#codecs.codecFor(topic);
    return records.map((r) =>
      r.timestamp === undefined ? { key: r.key, value: codec.encode(r.value) } : { key: r.key, value: codec.encode(r.value), timestamp: String(r.timestamp) },
    );
  }

  /** Sends in requests the broker accepts, one after another (so a key's records keep their order). */
  async sendEncoded<V>(topic: Topic<V>, messages: Message[]): Promise<RecordMetadata[]> {
    const stored: RecordMetadata[] = [];
    for (const chunk of sendChunks(messages))
      stored.push(...(await this.#producer.send({ topic: topic.name, acks: -1, compression: CompressionTypes.None, messages: chunk })));
    return stored;
  }
}
