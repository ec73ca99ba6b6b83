import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRedis } from '../../lib/redis.ts';

const redis = createRedis(inject('services').redisUrl);
const prefix = `test:${Date.now()}`;

beforeAll(() => redis.connect());
afterAll(() => redis.quit());

describe('Redis round trips (needs Redis)', () => {
  it('stores and reads hashes and sorted sets', async () => {
    await redis.hset(`${prefix}:{m1}:profile`, { plan: 'gold', visits: '3' });
    expect(await redis.hgetall(`${prefix}:{m1}:profile`)).toEqual({ plan: 'gold', visits: '3' });
    await redis.zadd(`${prefix}:due`, 200, 'b', 100, 'a');
    expect(await redis.zrangebyscore(`${prefix}:due`, 0, 150)).toEqual(['a']);
  });

  it('runs a Lua script atomically and pipelines many commands', async () => {
    const script = "local v = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2]); redis.call('HSET', KEYS[1], 'last', ARGV[3]); return v";
    expect(await redis.eval(script, 1, `${prefix}:{m2}:c`, 'orders', 2, 'o1')).toBe(2);
    expect(await redis.eval(script, 1, `${prefix}:{m2}:c`, 'orders', 3, 'o2')).toBe(5);
    expect(await redis.hget(`${prefix}:{m2}:c`, 'last')).toBe('o2');

    const pipeline = redis.pipeline();
    for (let i = 0; i < 1_000; i++) pipeline.incr(`${prefix}:counter`);
    const results = await pipeline.exec();
    expect(results?.every(([error]) => error === null)).toBe(true);
    expect(await redis.get(`${prefix}:counter`)).toBe('1000');
  });
});
