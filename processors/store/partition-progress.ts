import type { RedisPipelineClient } from '../../lib/redis/pipeline-client.ts';
import type { RedisCommand } from '../../lib/redis/resp.ts';

/** Sets a hash field to a number only if it is greater than what is there (progress never goes back). */
const SET_IF_GREATER = `
for i = 1, #ARGV, 2 do
  local current = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1e300')
  if tonumber(ARGV[i + 1]) > current then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1
`;

/** A partition's part in event time: the latest event time and receive time applied from it, and whether it is caught up. */
export interface PartitionClock {
  readonly streamTime: number | undefined;
  readonly lastReceivedAt: number | undefined;
  readonly idle: boolean;
}

/** A partition's part in event time as recorded: `idleAt`, the high watermark it was found caught up at (none: busy). */
export interface RecordedPartitionClock {
  readonly streamTime: number | undefined;
  readonly lastReceivedAt: number | undefined;
  readonly idleAt: bigint | undefined;
}

/** How far a partition is applied by receive time, for links across partitions (docs/processors.md, "Order across partitions"). */
export interface Frontier {
  /** The latest receive time applied from it: every record received before is applied, but those waiting. */
  readonly receivedAt: number;
  /** Members with records waiting there (a link waiting for another partition, and their later events), since when. */
  readonly held: ReadonlyMap<string, number>;
}

const NOTHING_HELD: ReadonlyMap<string, number> = new Map();

function storedHeld(text: string | null | undefined): ReadonlyMap<string, number> {
  if (!text || text === '{}') return NOTHING_HELD;
  return new Map(Object.entries(JSON.parse(text) as Record<string, number>));
}

/**
 * How far each partition of the events topic is, kept in Redis for every replica and
 * every consumer group (a partition changes hands, a replay runs under a new group):
 * the offset up to which its history records (member events) are published, so a re-read
 * publishes none twice;
 * and its stream time, the latest event time applied from it (or the wall clock while it
 * is caught up), which timers follow (docs/processors.md, "Time").
 */
export class PartitionProgress {
  readonly #redis: RedisPipelineClient;
  readonly #key: string;
  readonly #setIfGreater: string;

  constructor(redis: RedisPipelineClient, key: string) {
    this.#redis = redis;
    this.#key = key;
    this.#setIfGreater = redis.script(SET_IF_GREATER);
  }

  /** Per partition asked about, the highest offset whose history records are published (absent: none known). */
  async historyPublished(partitions: readonly number[]): Promise<Map<number, number>> {
    const written = new Map<number, number>();
    if (partitions.length === 0) return written;
    const values = (await this.#redis.call('HMGET', this.#key, ...partitions.map((p) => `history:${p}`))) as (string | null)[];
    partitions.forEach((partition, i) => {
      const value = values[i];
      if (value !== null && value !== undefined) written.set(partition, Number(value));
    });
    return written;
  }

  /** Records that history records are published up to these offsets (inclusive), per partition. */
  async recordHistoryPublished(offsets: ReadonlyMap<number, number>): Promise<void> {
    if (offsets.size === 0) return;
    const args = [...offsets].flatMap(([partition, offset]) => [`history:${partition}`, offset]);
    await this.#redis.execOrThrow([['EVALSHA', this.#setIfGreater, 1, this.#key, ...args]]);
  }

  /** What event time is made of, for partitions 0 .. count - 1 (docs/processors.md, "Time"). */
  async clocks(count: number): Promise<RecordedPartitionClock[]> {
    if (count === 0) return [];
    const fields = Array.from({ length: count }, (_, p) => [`stream:${p}`, `last:${p}`, `idle:${p}`]).flat();
    const values = (await this.#redis.call('HMGET', this.#key, ...fields)) as (string | null)[];
    return Array.from({ length: count }, (_, p) => {
      const [stream, last, idle] = [values[3 * p], values[3 * p + 1], values[3 * p + 2]];
      return {
        streamTime: stream === null || stream === undefined ? undefined : Number(stream),
        lastReceivedAt: last === null || last === undefined ? undefined : Number(last),
        idleAt: idle === null || idle === undefined || !/^\d+$/.test(idle) ? undefined : BigInt(idle),
      };
    });
  }

  /** Per partition asked about that has recorded one, its received frontier (by ingest's clock). */
  async frontiers(partitions: readonly number[]): Promise<Map<number, Frontier>> {
    const frontiers = new Map<number, Frontier>();
    if (partitions.length === 0) return frontiers;
    const values = (await this.#redis.call('HMGET', this.#key, ...partitions.flatMap((p) => [`received:${p}`, `held:${p}`]))) as (string | null)[];
    partitions.forEach((partition, i) => {
      const [received, held] = [values[2 * i], values[2 * i + 1]];
      if (received === null && (held === null || held === undefined)) return;
      frontiers.set(partition, {
        receivedAt: received === null || received === undefined ? Number.NEGATIVE_INFINITY : Number(received),
        held: storedHeld(held),
      });
    });
    return frontiers;
  }

  /**
   * Records a slice applied: per partition, the latest event time and receive time it
   * applied, and its received frontier. A partition with a slice applied is busy (not idle).
   */
  async recordApplied(applied: {
    readonly streamTimes: ReadonlyMap<number, number>;
    readonly lastReceived: ReadonlyMap<number, number>;
    readonly frontiers: ReadonlyMap<number, Frontier>;
  }): Promise<void> {
    const commands: RedisCommand[] = [];
    this.#raise(
      commands,
      [...applied.streamTimes].map(([p, time]) => [`stream:${p}`, time]),
    );
    this.#raise(
      commands,
      [...applied.lastReceived].map(([p, time]) => [`last:${p}`, time]),
    );
    this.#raise(
      commands,
      // A partition whose records in the slice all wait has applied nothing yet: no receive time to record.
      [...applied.frontiers].filter(([, frontier]) => Number.isFinite(frontier.receivedAt)).map(([p, frontier]) => [`received:${p}`, frontier.receivedAt]),
    );
    const flags = [...applied.frontiers].flatMap(([p, frontier]) => [`held:${p}`, JSON.stringify(Object.fromEntries(frontier.held)), `idle:${p}`, '-']);
    if (flags.length > 0) commands.push(['HSET', this.#key, ...flags]);
    if (commands.length > 0) await this.#redis.execOrThrow(commands);
  }

  /**
   * Records partitions whose only records not applied are waiting at links (everything up
   * to their high watermark taken): everything else received before `receivedBefore` is
   * applied, so links of other members waiting for them go on. They stay busy: their
   * stream time holds event time back at the earliest record waiting.
   */
  async recordCaughtUpButWaiting(partitions: readonly number[], receivedBefore: number): Promise<void> {
    if (partitions.length === 0) return;
    const commands: RedisCommand[] = [];
    this.#raise(
      commands,
      partitions.map((p) => [`received:${p}`, receivedBefore]),
    );
    await this.#redis.execOrThrow(commands);
  }

  /**
   * Records partitions caught up, each at the high watermark it has applied everything up
   * to: everything received before `receivedBefore` is applied, and they are idle (for as
   * long as nothing lands past that high watermark).
   */
  async recordCaughtUp(partitions: ReadonlyMap<number, bigint>, receivedBefore: number): Promise<void> {
    if (partitions.size === 0) return;
    const commands: RedisCommand[] = [];
    this.#raise(
      commands,
      [...partitions.keys()].map((p) => [`received:${p}`, receivedBefore]),
    );
    commands.push(['HSET', this.#key, ...[...partitions].flatMap(([p, highWatermark]) => [`held:${p}`, '{}', `idle:${p}`, highWatermark.toString()])]);
    await this.#redis.execOrThrow(commands);
  }

  #raise(commands: RedisCommand[], values: [string, number][]): void {
    if (values.length > 0) commands.push(['EVALSHA', this.#setIfGreater, 1, this.#key, ...values.flat()]);
  }
}
