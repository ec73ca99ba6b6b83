import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RedisPipelineClient } from '../../lib/redis/pipeline-client.ts';
import { RedisReplyError } from '../../lib/redis/resp.ts';
import { createRedis } from '../../lib/redis.ts';
import { freePort } from '../../scripts/stack/processes.ts';

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

describe('the pipeline connection of member state (needs Redis)', () => {
  const url = inject('services').redisUrl;
  const key = (name: string) => `${prefix}:pipe:${name}`;

  it('sends a batch in one round trip and gives every reply in its place, error replies included', async () => {
    const client = new RedisPipelineClient(url);
    try {
      const big = 'é'.repeat(300_000); // larger than a socket read, multi-byte
      const replies = await client.exec([
        ['SET', key('a'), big],
        ['GET', key('a')],
        ['HINCRBY', key('a'), 'f', 1], // wrong type: an error reply, the batch goes on
        ['ZADD', key('z'), 1.5, 'x', 2, 'y'],
        ['ZMSCORE', key('z'), 'x', 'missing', 'y'],
        ['GET', key('none')],
        ['MGET', key('a'), key('none')],
      ]);
      expect(replies[0]).toBe('OK');
      expect(replies[1]).toBe(big);
      expect(replies[2]).toBeInstanceOf(RedisReplyError);
      expect((replies[2] as Error).message).toMatch(/^WRONGTYPE/);
      expect(replies.slice(3)).toEqual([2, ['1.5', null, '2'], null, [big, null]]);
      await expect(client.call('HINCRBY', key('a'), 'f', 1)).rejects.toThrow(/WRONGTYPE/);
      // Many batches at once keep their replies apart.
      const counts = await Promise.all(Array.from({ length: 50 }, (_, i) => client.exec([['INCRBY', key('n'), i + 1]])));
      expect(Math.max(...counts.map(([n]) => n as number))).toBe((50 * 51) / 2);
    } finally {
      await client.close();
    }
  });

  it('loads a script again when Redis no longer holds it (restart, SCRIPT FLUSH)', async () => {
    const client = new RedisPipelineClient(url);
    try {
      const sha = client.script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
      expect(await client.call('EVALSHA', sha, 1, key('s'), 5)).toBe(5);
      await redis.script('FLUSH');
      // The script runs once loaded, after the batch: the GET within the batch saw the state before it.
      expect(
        await client.exec([
          ['EVALSHA', sha, 1, key('s'), 2],
          ['GET', key('s')],
          ['EVALSHA', sha, 1, key('s'), 3],
        ]),
      ).toEqual([7, '5', 10]);
      expect(await client.call('GET', key('s'))).toBe('10');
    } finally {
      await client.close();
    }
  });

  it('fails what was in flight when the connection is lost, and connects again for the next batch', async () => {
    const client = new RedisPipelineClient(url);
    try {
      const name = `pipe-${Date.now()}`;
      await client.call('CLIENT', 'SETNAME', name);
      // The expectation is attached at once: the rejection comes while the test is still killing the connection.
      const blocked = expect(client.exec([['BLPOP', key('never'), 5]])).rejects.toThrow(/connection to Redis at .* was lost/);
      const clients = (await redis.client('LIST')) as string;
      const id = clients
        .split('\n')
        .find((line) => line.includes(`name=${name}`))
        ?.match(/id=(\d+)/)?.[1];
      expect(id).toBeDefined();
      await redis.client('KILL', 'ID', id as string);
      await blocked;
      expect(await client.call('PING')).toBe('PONG');
    } finally {
      await client.close();
    }
  });

  it('says clearly when it cannot connect or is refused', async () => {
    const closedPort = new RedisPipelineClient('redis://127.0.0.1:1', { connectTimeoutMs: 2_000 });
    await expect(closedPort.call('PING')).rejects.toThrow(/cannot connect to Redis at 127\.0\.0\.1:1: .*ECONNREFUSED/);
    const withPassword = new URL(url);
    withPassword.password = 'wrong';
    const refused = new RedisPipelineClient(withPassword.toString());
    await expect(refused.call('PING')).rejects.toThrow(/refused the connection: .*(AUTH|WRONGPASS|password)/i);
    expect(() => new RedisPipelineClient('http://localhost:6379')).toThrow(/redis:\/\/ or rediss:\/\//);
  });

  it('selects the database named in the URL', async () => {
    const inOne = new URL(url);
    inOne.pathname = '/1';
    const client = new RedisPipelineClient(inOne.toString());
    try {
      await client.call('SET', key('db'), 'one');
      expect(await redis.get(key('db'))).toBeNull();
      expect(await client.call('GET', key('db'))).toBe('one');
      await client.call('DEL', key('db'));
    } finally {
      await client.close();
    }
  });
});

describe('the pipeline connection over TLS (needs redis-server built with TLS, and openssl)', () => {
  it('speaks TLS for rediss:// URLs and refuses a server it cannot trust, saying why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'segstream-redis-tls-'));
    const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost',
      ],
      {
        stdio: 'ignore',
      },
    );
    const port = await freePort();
    const server = spawn(
      'redis-server',
      [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--tls-cert-file',
        cert,
        '--tls-key-file',
        key,
        '--tls-ca-cert-file',
        cert,
        '--tls-auth-clients',
        'no',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    );
    const client = new RedisPipelineClient(`rediss://localhost:${port}`, { tlsCa: readFileSync(cert) });
    const untrusted = new RedisPipelineClient(`rediss://localhost:${port}`);
    try {
      const deadline = Date.now() + 10_000;
      while ((await client.call('PING').catch(() => null)) !== 'PONG') {
        if (Date.now() > deadline) throw new Error(`redis-server with TLS did not come up on port ${port}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(
        await client.exec([
          ['SET', 'tls', 'yes'],
          ['GET', 'tls'],
        ]),
      ).toEqual(['OK', 'yes']);
      await expect(untrusted.call('PING')).rejects.toThrow(/cannot connect to Redis at localhost:\d+: .*certificate/);
    } finally {
      await client.close();
      await untrusted.close();
      server.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
