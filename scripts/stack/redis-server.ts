import { join } from 'node:path';
import { Redis } from 'ioredis';
import { commandExists, ensureDebianPackages, freePort, spawnDetached, waitFor } from './processes.ts';

export interface LocalRedis {
  readonly url: string;
  readonly pid: number;
}

export async function redisResponds(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1_000, retryStrategy: () => null });
  client.on('error', () => {}); // a refused connection is the answer here, not an error to report
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** Debian's redis-server on a free loopback port, in memory only (no RDB, no AOF). */
export async function startLocalRedis(stateDir: string): Promise<LocalRedis> {
  ensureDebianPackages('Redis', ['redis-server'], () => commandExists('redis-server'));
  const port = await freePort();
  const pid = spawnDetached(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--dir', stateDir],
    join(stateDir, 'redis.log'),
  );
  const url = `redis://127.0.0.1:${port}`;
  await waitFor(`redis-server on port ${port}`, 10_000, async () => ((await redisResponds(url)) ? true : undefined));
  return { url, pid };
}
