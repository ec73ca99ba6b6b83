import { Redis } from 'ioredis';

/**
 * A Redis connection that does not connect at construction (no I/O at import or build
 * time) and fails commands fast instead of queueing them forever while Redis is down.
 */
export function createRedis(url: string): Redis {
  return new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3, enableOfflineQueue: true, connectTimeout: 5_000 });
}
