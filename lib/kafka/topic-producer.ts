import { type Base, compatibilityPartitioner, findErrorBy, ProduceAcks, Producer } from '@platformatic/kafka';
import type { Topic } from '../../schemas/topics.ts';
import type { KafkaSettings } from './client.ts';
import type { TopicCodecs } from './codecs.ts';
import { sendChunks } from './send-chunks.ts';

export interface KeyedRecord<V> {
  readonly key: string;
  readonly value: V;
  /** The Kafka record's time, epoch ms (default: when it is sent). Events carry ingest's receive time. */
  readonly timestamp?: number;
}

/** A record encoded for its topic, ready to send. */
export interface EncodedRecord {
  readonly key: string;
  readonly value: Buffer;
  readonly timestamp?: number;
}

/** Where the broker stored the first record of each partition's share of a send. */
export interface StoredBatch {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
}

export interface TopicProducerOptions {
  /**
   * Idempotent producer: the broker drops a retried request it has stored already (a
   * response lost on the way back), so a retry never duplicates records. It retries a
   * failing send for as long as it takes instead of giving up.
   */
  readonly idempotent?: boolean;
}

/** Retries of a failing produce (not idempotent): about 13 s in all, then the send fails and its caller decides. */
const RETRIES = 10;

/** Retries of the first metadata request on connecting: a start fails (about 7 s) rather than wait for ever for an unreachable cluster. */
const CONNECT_RETRIES = 6;

/**
 * From 100 ms, doubling, at most 2 s between attempts. A retry after "not the leader"
 * reads the cluster's metadata again first: platformatic 2.12.1 re-reads it once per
 * send and then retries with what it has, which can itself be stale (a broker's view of
 * the leaders lags the controller's), so a send went on asking a broker that was not the
 * leader for ever (seen in broker-failover.test.ts: ingest answered 503 to everything
 * after the leader moved, in 2 of 10 runs).
 */
function retryDelay(client: object, _operation: string, attempt: number, _retries: number, error: Error): number {
  if (findErrorBy(error, 'hasStaleMetadata', true)) (client as Base).clearMetadata();
  return Math.min(100 * 2 ** (attempt - 1), 2_000);
}

/**
 * Produces typed values to registry topics, Avro-encoded in the Confluent wire format,
 * through @platformatic/kafka's producer (docs/design.md, "Kafka client").
 * Every send waits for all in-sync replicas (acks=all): a resolved send means stored.
 */
export class TopicProducer {
  readonly #producer: Producer<Buffer, Buffer, Buffer, Buffer>;
  readonly #codecs: TopicCodecs;
  readonly #idempotent: boolean;

  constructor(settings: KafkaSettings, codecs: TopicCodecs, options: TopicProducerOptions = {}) {
    // Keys hash as the Java client's (murmur2, sign bit masked), so other-language producers
    // and the records already in the topics agree on partitions. One request in flight per
    // broker, so a retried request cannot overtake a later one.
    const idempotent = options.idempotent ?? false;
    this.#producer = new Producer({
      clientId: settings.clientId,
      bootstrapBrokers: [...settings.brokers],
      idempotent,
      partitioner: compatibilityPartitioner,
      autocreateTopics: false,
      maxInflights: 1,
      retryDelay,
      ...(idempotent ? {} : { retries: RETRIES }),
    });
    this.#codecs = codecs;
    this.#idempotent = idempotent;
  }

  /** Reaches every broker of the cluster (and, idempotent, gets a producer id): a start fails here when Kafka cannot be reached. */
  async connect(): Promise<void> {
    await this.#producer.metadata({ topics: [], retries: CONNECT_RETRIES });
    await this.#producer.connectToBrokers(null);
    if (this.#idempotent) await this.#producer.initIdempotentProducer({});
  }

  async disconnect(): Promise<void> {
    await this.#producer.close();
  }

  async send<V>(topic: Topic<V>, records: readonly KeyedRecord<V>[]): Promise<StoredBatch[]> {
    return this.sendEncoded(topic, this.encode(topic, records));
  }

  /** Encodes records for a topic without sending them; throws if a value does not fit the schema. */
  encode<V>(topic: Topic<V>, records: readonly KeyedRecord<V>[]): EncodedRecord[] {
    const codec = this.#codecs.codecFor(topic);
    return records.map((r) =>
      r.timestamp === undefined ? { key: r.key, value: codec.encode(r.value) } : { key: r.key, value: codec.encode(r.value), timestamp: r.timestamp },
    );
  }

  /** Sends in requests the broker accepts, one after another (so a key's records keep their order). */
  async sendEncoded<V>(topic: Topic<V>, records: readonly EncodedRecord[]): Promise<StoredBatch[]> {
    const stored: StoredBatch[] = [];
    for (const chunk of sendChunks(records)) {
      const result = await this.#producer.send({
        // Per send: the producer's own `acks` option does not reach its sends (they default to the leader's ack).
        acks: ProduceAcks.ALL,
        messages: chunk.map((r) => ({
          topic: topic.name,
          key: Buffer.from(r.key),
          value: r.value,
          ...(r.timestamp === undefined ? {} : { timestamp: BigInt(r.timestamp) }),
        })),
      });
      for (const o of result.offsets ?? []) stored.push({ topic: o.topic, partition: o.partition, offset: o.offset });
    }
    return stored;
  }
}
