import type { Clock } from '../lib/clock.ts';
import type { EncodedRecord, KeyedRecord, TopicProducer } from '../lib/kafka/topic-producer.ts';
import type { EventRecord } from '../schemas/records.ts';
import type { Topic } from '../schemas/topics.ts';

/** Why events could not be stored; each maps to an HTTP status with Retry-After. */
export class PublishError extends Error {
  readonly kind: 'overloaded' | 'unavailable';
  readonly retryAfterSeconds: number;

  constructor(kind: 'overloaded' | 'unavailable', message: string, retryAfterSeconds: number) {
    super(message);
    this.kind = kind;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export interface EventPublisher {
  /** Resolves once the broker acknowledged every record (acks=all); rejects with PublishError otherwise. */
  publish(records: readonly KeyedRecord<EventRecord>[]): Promise<void>;
  /** Records waiting for an acknowledgement right now. */
  readonly pending: number;
  /** Waits for everything queued to be sent (used on shutdown). */
  drain(): Promise<void>;
}

export interface PublisherOptions {
  /** Above this many waiting records new requests are refused with 429. */
  readonly maxPendingRecords: number;
  /** Records per produce request. */
  readonly maxBatchRecords: number;
  /** How long a record may wait for acknowledgement before the request gets 503. */
  readonly produceTimeoutMs: number;
  /** Observes each produce request: records, milliseconds, and whether it succeeded. */
  readonly onSend?: (records: number, ms: number, ok: boolean) => void;
}

interface Waiter {
  readonly messages: EncodedRecord[];
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/**
 * Gathers the records of concurrent requests into few produce requests. Sends happen one
 * at a time, in arrival order, so records of one key never overtake each other, even
 * when a send is retried.
 */
export class BatchingPublisher implements EventPublisher {
  readonly #producer: TopicProducer;
  readonly #topic: Topic<EventRecord>;
  readonly #options: PublisherOptions;
  readonly #clock: Clock;
  #queue: Waiter[] = [];
  #queued = 0;
  #inFlight = 0;
  #sending: Promise<void> | null = null;

  constructor(producer: TopicProducer, topic: Topic<EventRecord>, clock: Clock, options: PublisherOptions) {
    this.#producer = producer;
    this.#topic = topic;
    this.#clock = clock;
    this.#options = options;
  }

  get pending(): number {
    return this.#queued + this.#inFlight;
  }

  publish(records: readonly KeyedRecord<EventRecord>[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    if (this.pending + records.length > this.#options.maxPendingRecords) {
      return Promise.reject(
        new PublishError('overloaded', `${this.pending} events are waiting for the broker; the limit is ${this.#options.maxPendingRecords}`, 1),
      );
    }
    // Encode now, so a record that does not fit the schema fails its own request only.
    const messages = this.#producer.encode(this.#topic, records);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(new PublishError('unavailable', `the broker did not acknowledge within ${this.#options.produceTimeoutMs} ms`, 5));
      }, this.#options.produceTimeoutMs);
      const settle = (fn: () => void) => {
        clearTimeout(timer);
        if (!settled) {
          settled = true;
          fn();
        }
      };
      this.#queue.push({ messages, resolve: () => settle(resolve), reject: (error) => settle(() => reject(error)) });
      this.#queued += messages.length;
      this.#sending ??= this.#sendLoop();
    });
  }

  async #sendLoop(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch: Waiter[] = [];
      let count = 0;
      while (this.#queue.length > 0 && (count === 0 || count + (this.#queue[0] as Waiter).messages.length <= this.#options.maxBatchRecords)) {
        const waiter = this.#queue.shift() as Waiter;
        batch.push(waiter);
        count += waiter.messages.length;
      }
      this.#queued -= count;
      this.#inFlight += count;
      const started = this.#clock.now();
      try {
        await this.#producer.sendEncoded(
          this.#topic,
          batch.flatMap((w) => w.messages),
        );
        this.#options.onSend?.(count, this.#clock.now() - started, true);
        for (const waiter of batch) waiter.resolve();
      } catch (error) {
        this.#options.onSend?.(count, this.#clock.now() - started, false);
        const reason = error instanceof Error ? error.message : String(error);
        for (const waiter of batch) waiter.reject(new PublishError('unavailable', `the broker did not store the events: ${reason}`, 5));
      } finally {
        this.#inFlight -= count;
      }
    }
    this.#sending = null;
  }

  async drain(): Promise<void> {
    while (this.#sending) await this.#sending;
  }
}
