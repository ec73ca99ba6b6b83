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

/**
 * How far each partition of the events topic is, kept in Redis for every replica and
 * every consumer group (a partition changes hands, a replay runs under a new group):
 * the offset up to which its history is written, so a re-read writes no history twice;
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

  /** Per partition asked about, the highest offset whose history is written (absent: none known). */
  async historyWritten(partitions: readonly number[]): Promise<Map<number, number>> {
    const written = new Map<number, number>();
    if (partitions.length === 0) return written;
    const values = (await this.#redis.call('HMGET', this.#key, ...partitions.map((p) => `history:${p}`))) as (string | null)[];
    partitions.forEach((partition, i) => {
      const value = values[i];
      if (value !== null && value !== undefined) written.set(partition, Number(value));
    });
    return written;
  }

  /** Records that history is written up to these offsets (inclusive), per partition. */
  async recordHistoryWritten(offsets: ReadonlyMap<number, number>): Promise<void> {
    await this.#raise('history', offsets);
  }

  /** The stream time of partitions 0 .. count - 1 (undefined for one never recorded). */
  async streamTimes(count: number): Promise<(number | undefined)[]> {
    if (count === 0) return [];
    const values = (await this.#redis.call('HMGET', this.#key, ...Array.from({ length: count }, (_, p) => `stream:${p}`))) as (string | null)[];
    return values.map((value) => (value === null ? undefined : Number(value)));
  }

  /** Moves partitions' stream times forward to these times (never back). */
  async recordStreamTimes(times: ReadonlyMap<number, number>): Promise<void> {
    await this.#raise('stream', times);
  }

  async #raise(field: 'history' | 'stream', values: ReadonlyMap<number, number>): Promise<void> {
    if (values.size === 0) return;
    const args = [...values].flatMap(([partition, value]) => [`${field}:${partition}`, value]);
    const command: RedisCommand = ['EVALSHA', this.#setIfGreater, 1, this.#key, ...args];
    await this.#redis.execOrThrow([command]);
  }
}
