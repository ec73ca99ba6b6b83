import { setTimeout as sleep } from 'node:timers/promises';
import { type Base, findErrorBy, type MessageToProduce, ProduceAcks, type ProduceResult, Producer } from '@platformatic/kafka';
import type { Topic } from '../../schemas/topics.ts';
import type { KafkaSettings } from './client.ts';
import type { TopicCodecs } from './codecs.ts';
import { keyHash } from './key-partition.ts';
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

/** Encoded records for one topic (by name), in the order they are to be stored. */
export interface TopicBatch {
  readonly topic: string;
  readonly records: readonly EncodedRecord[];
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
   * response lost on the way back), so a retry never duplicates records. A failing send
   * is sent again for as long as it takes instead of giving up.
   */
  readonly idempotent?: boolean;
}

/** Retries of a failing produce within one send: about 13 s in all (about 3 s when idempotent, then it is sent anew). */
const RETRIES = 10;
const IDEMPOTENT_RETRIES = 5;

/** Retries of the first metadata request on connecting: a start fails (about 7 s) rather than wait for ever for an unreachable cluster. */
const CONNECT_RETRIES = 6;

/** Between a failed idempotent send and its next: a send that fails at once must not spin. */
const RESEND_PAUSE_MS = 100;

/** From 100 ms, doubling, at most 2 s between attempts; a retry after "not the leader" reads the cluster's metadata again first. */
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
  #closed = false;

  constructor(settings: KafkaSettings, codecs: TopicCodecs, options: TopicProducerOptions = {}) {
    // Keys hash as the Java client's (murmur2, sign bit masked), so other-language producers
    // and the records already in the topics agree on partitions; in 32-bit integers, as the
    // library's own compatibilityPartitioner (BigInt arithmetic) allocated a tenth of the
    // processors' memory traffic. One request in flight per broker, so a retried request
    // cannot overtake a later one.
    const idempotent = options.idempotent ?? false;
    this.#producer = new Producer({
      clientId: settings.clientId,
      bootstrapBrokers: [...settings.brokers],
      idempotent,
      partitioner: (_message, key) => (key ? keyHash(key) : 0),
      autocreateTopics: false,
      maxInflights: 1,
      retryDelay,
      retries: idempotent ? IDEMPOTENT_RETRIES : RETRIES,
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
    this.#closed = true;
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
    return this.sendBatches([{ topic: topic.name, records }]);
  }

  /**
   * Sends the records of several topics together: one request per broker for as much as
   * fits in one (a unit of work's outputs and history records, whatever their topics, cost
   * one round trip, not one per topic), one after another, each topic's records in order.
   */
  async sendBatches(batches: readonly TopicBatch[]): Promise<StoredBatch[]> {
    const stored: StoredBatch[] = [];
    const messages: MessageToProduce<Buffer, Buffer, Buffer, Buffer>[] = batches.flatMap(({ topic, records }) =>
      records.map((r) => ({ topic, key: Buffer.from(r.key), value: r.value, ...(r.timestamp === undefined ? {} : { timestamp: BigInt(r.timestamp) }) })),
    );
    for (const chunk of sendChunks(messages)) {
      const result = this.#idempotent ? await this.#sendUntilStored(chunk) : await this.#sendOnce(chunk);
      for (const o of result.offsets ?? []) stored.push({ topic: o.topic, partition: o.partition, offset: o.offset });
    }
    return stored;
  }

  #sendOnce(messages: MessageToProduce[]): Promise<ProduceResult> {
    // Per send: the producer's own `acks` option does not reach its sends (they default to the leader's ack).
    return this.#producer.send({ acks: ProduceAcks.ALL, messages });
  }

  /**
   * Sends anew until the broker takes it. Why not platformatic's own endless retries: a send
   * groups its partitions by leader once, and retries that group as it is; after a leader
   * moved, the partitions of one group can have different leaders, and the group was sent
   * to a broker that leads only some of them, "not the leader" for ever (broker-failover
   * test: ingest answered 503 to everything after the move in 2 of 10 runs). A new send
   * groups them by the leaders of now. A send that failed gives up its producer id, so
   * records it stored on some partitions before failing are stored again by the next
   * (a duplicate with the same message id, which the processors drop), never lost.
   */
  async #sendUntilStored(messages: MessageToProduce[]): Promise<ProduceResult> {
    for (;;) {
      try {
        return await this.#sendOnce(messages);
      } catch (error) {
        if (this.#closed || findErrorBy(error as Error, 'canRetry', false)) throw error;
        this.#producer.clearMetadata();
        await sleep(RESEND_PAUSE_MS);
      }
    }
  }
}
