import { once } from 'node:events';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RunningIngest, startIngest } from '../harness/ingest.ts';

const services = inject('services');
let ingest: RunningIngest;
// Small limits so every limit can be hit cheaply.
beforeAll(async () => {
  ingest = await startIngest(services.kafkaBrokers, {
    INGEST_MAX_BATCH_EVENTS: '5',
    INGEST_MAX_REQUEST_BYTES: '20000',
    INGEST_MAX_EVENT_BYTES: '2000',
    INGEST_FUTURE_TOLERANCE_MS: '60000',
    INGEST_REQUEST_TIMEOUT_MS: '1500',
    OPERATIONS_TOKENS: 'ops-token',
    INGEST_WRITE_KEY_ORIGINS: 'wk_web=https://shop.example.com|https://m.shop.example.com',
  });
});
afterAll(() => ingest.stop());

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
async function post(path: string, body: unknown, headers: Record<string, string> = { authorization: basic('wk_web') }) {
  const raw = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const response = await fetch(`${ingest.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}
const run = Date.now();

describe('ingest HTTP contract (needs Kafka)', () => {
  it('answers 401 for a missing or unknown write key and accepts the key in the body', async () => {
    const noKey = await post('/v1/track', { userId: 'u', event: 'e' }, {});
    expect(noKey.status).toBe(401);
    expect(noKey.body.message).toContain('HTTP Basic authentication with the write key as user name');
    expect((await post('/v1/track', { userId: 'u', event: 'e' }, { authorization: basic('wk_nope') })).status).toBe(401);
    expect((await post('/v1/track', { userId: 'u', event: 'e', writeKey: 'wk_app' }, {})).body).toEqual({ success: true, accepted: 1 });
  });

  it('stores the valid events of a mixed batch, rejects the others by index and field, and loses nothing', async () => {
    const mark = await ingest.mark();
    const good = [0, 2, 4].map((i) => ({ type: 'track', messageId: `mixed-${run}-${i}`, userId: `u-${run}`, event: 'Product Viewed', properties: { i } }));
    const batch = [
      good[0],
      { type: 'track', userId: 'u', event: 'Order Completed', properties: { order_id: 'o', total: 'ten' } },
      good[1],
      { type: 'page' },
      good[2],
    ];
    const response = await post('/v1/batch', { batch });
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ success: false, error: 'invalid_events', accepted: 3 });
    expect(response.body.rejected).toEqual([
      {
        index: 1,
        field: 'batch[1].properties.total',
        reason: 'invalid_money',
        expected: 'a non-negative number of at most 1,000,000,000,000 (e.g. 42.5), not text',
        received: '"ten" (a string)',
      },
      {
        index: 3,
        field: 'batch[3].userId',
        reason: 'missing_field',
        expected: 'userId or anonymousId (every message needs one of them)',
        received: 'nothing (field missing)',
      },
    ]);
    const stored = (await ingest.eventsSince(mark)).filter((r) => r.messageId.startsWith(`mixed-${run}`));
    expect(stored.map((r) => [r.messageId, JSON.parse(r.properties)])).toEqual(good.map((g) => [g?.messageId, g?.properties]));
  });

  it('answers 400 naming the field for a bad single event, and for bad JSON', async () => {
    const single = await post('/v1/alias', { userId: 'u' });
    expect(single).toMatchObject({ status: 400, body: { accepted: 0, rejected: [{ index: null, field: 'previousId', reason: 'missing_field' }] } });
    const badJson = await post('/v1/track', '{"userId": ');
    expect(badJson).toMatchObject({ status: 400, body: { error: 'invalid_json' } });
    const badTime = await post('/v1/page', { anonymousId: 'a', timestamp: 'last tuesday' });
    expect(badTime.body.rejected).toEqual([
      {
        index: null,
        field: 'timestamp',
        reason: 'invalid_timestamp',
        expected: 'an ISO-8601 date-time with a time zone (e.g. 2026-01-05T10:00:00.000Z)',
        received: '"last tuesday" (a string)',
      },
    ]);
  });

  it('answers 413 for a request, a decompressed request, an event or a batch over the limits, storing nothing', async () => {
    const mark = await ingest.mark();
    const bigEvent = { userId: 'u', event: 'e', messageId: `big-${run}`, properties: { blob: 'x'.repeat(3_000) } };
    expect(await post('/v1/track', bigEvent)).toMatchObject({
      status: 413,
      body: { error: 'event_too_large', rejected: [{ field: 'body', expected: 'at most 2000 bytes per event' }] },
    });
    const tooMany = Array.from({ length: 6 }, (_, i) => ({ type: 'track', userId: 'u', event: 'e', messageId: `many-${run}-${i}` }));
    expect(await post('/v1/batch', { batch: tooMany })).toMatchObject({
      status: 413,
      body: { error: 'batch_too_large', message: 'batch: expected at most 5 messages per request, received "6 messages" (a string)' },
    });
    const hugeBody = { batch: [{ type: 'track', userId: 'u', event: 'e', properties: { blob: 'y'.repeat(25_000) } }] };
    expect(await post('/v1/batch', hugeBody)).toMatchObject({ status: 413, body: { error: 'payload_too_large' } });
    const bomb = gzipSync(JSON.stringify(hugeBody));
    expect(bomb.length).toBeLessThan(20_000);
    expect(await post('/v1/batch', bomb, { authorization: basic('wk_web'), 'content-encoding': 'gzip' })).toMatchObject({
      status: 413,
      body: { error: 'payload_too_large' },
    });
    expect((await ingest.eventsSince(mark)).filter((r) => r.messageId.startsWith(`big-${run}`) || r.messageId.startsWith(`many-${run}`))).toEqual([]);
  });

  it('answers 400 for input that would overflow, mislead or lose an event later, storing nothing', async () => {
    const mark = await ingest.mark();
    const id = (name: string) => `hostile-${run}-${name}`;
    // Deep nesting: the recursion that serialises events would overflow (it answered 500, which SDKs retry).
    const deep = `{"batch":[{"type":"track","anonymousId":"a","event":"e","messageId":"${id('deep')}","properties":${'{"a":'.repeat(3_000)}1${'}'.repeat(3_000)}}]}`;
    expect(await post('/v1/batch', deep)).toMatchObject({
      status: 400,
      body: { error: 'too_deeply_nested', message: 'request body: expected JSON nested at most 64 levels deep, received deeper nesting' },
    });
    // Money that history (Decimal(18, 2)) and member state (doubles) would store differently.
    const huge = await post('/v1/track', { anonymousId: 'a', event: 'Order Completed', messageId: id('huge'), properties: { order_id: 'o', total: 1e300 } });
    expect(huge).toMatchObject({ status: 400, body: { rejected: [{ field: 'properties.total', reason: 'invalid_money', received: '1e+300 (a number)' }] } });
    // An order named in another case is checked as an order.
    const lower = await post('/v1/track', { anonymousId: 'a', event: 'order completed', messageId: id('lower'), properties: { order_id: 'o', total: -50 } });
    expect(lower).toMatchObject({ status: 400, body: { rejected: [{ field: 'properties.total', reason: 'invalid_money' }] } });
    // Explicit null ids: no identity at all (they were accepted, then dead-lettered by the processors).
    const nullIds = await post('/v1/track', { userId: null, anonymousId: null, event: 'e', messageId: id('null') });
    expect(nullIds).toMatchObject({ status: 400, body: { rejected: [{ field: 'userId', reason: 'missing_field', received: 'null' }] } });
    expect((await ingest.eventsSince(mark)).filter((r) => r.messageId.startsWith(`hostile-${run}`))).toEqual([]);
  });

  it('answers 408 and closes the connection of a request whose body trickles in slower than INGEST_REQUEST_TIMEOUT_MS', async () => {
    const { hostname, port } = new URL(ingest.url);
    const socket = connect(Number(port), hostname);
    await once(socket, 'connect');
    const started = performance.now();
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString();
    });
    socket.write(
      `POST /v1/track HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: ${basic('wk_web')}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{`,
    );
    // One byte every 300 ms: never idle long enough for an idle timeout, never whole.
    const trickle = setInterval(() => socket.writable && socket.write(' '), 300);
    try {
      await Promise.race([once(socket, 'close'), new Promise((_, reject) => setTimeout(() => reject(new Error('still open after 8 s')), 8_000))]);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    // 1.5 s allowed, checked every second.
    expect(performance.now() - started).toBeLessThan(4_000);
  });

  it('accepts gzip and text/plain bodies, refuses unknown encodings with 415', async () => {
    const gz = gzipSync(JSON.stringify({ userId: 'u', event: 'Compressed' }));
    expect(await post('/v1/track', gz, { authorization: basic('wk_web'), 'content-encoding': 'gzip' })).toMatchObject({ status: 200, body: { accepted: 1 } });
    expect(
      await post('/v1/page', JSON.stringify({ anonymousId: 'a', name: 'Home' }), { authorization: basic('wk_web'), 'content-type': 'text/plain' }),
    ).toMatchObject({ status: 200 });
    expect(await post('/v1/track', 'x', { authorization: basic('wk_web'), 'content-encoding': 'br' })).toMatchObject({
      status: 415,
      body: { error: 'unsupported_encoding' },
    });
  });

  it('sets receivedAt, corrects client clock skew and flags future timestamps', async () => {
    const mark = await ingest.mark();
    const now = Date.now();
    const skewed = new Date(now - 3_600_000); // client clock one hour behind
    await post('/v1/batch', {
      sentAt: skewed.toISOString(),
      batch: [{ type: 'track', userId: 'u', event: 'Skewed', messageId: `skew-${run}`, timestamp: new Date(skewed.getTime() - 10_000).toISOString() }],
    });
    await post('/v1/track', { userId: 'u', event: 'Future', messageId: `future-${run}`, timestamp: new Date(now + 86_400_000).toISOString() });
    const records = await ingest.eventsSince(mark);
    const skew = records.find((r) => r.messageId === `skew-${run}`);
    const future = records.find((r) => r.messageId === `future-${run}`);
    expect(skew?.flags).toEqual(['clock_skew_corrected']);
    expect(Math.abs((skew?.receivedAt ?? 0) - 10_000 - (skew?.timestamp ?? 0))).toBeLessThan(50);
    expect(future?.flags).toEqual(['timestamp_in_future']);
    expect(future?.timestamp).toBe(future?.receivedAt);
    expect(Math.abs((future?.receivedAt ?? 0) - now)).toBeLessThan(10_000);
  });

  it('answers CORS preflights for browser SDKs', async () => {
    const response = await fetch(`${ingest.url}/v1/track`, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('https://shop.example.com');
    expect(response.headers.get('access-control-allow-headers')).toContain('Authorization');
  });

  it('refuses a write key sent from a browser origin it is not for (403), storing nothing; other keys and requests without Origin are not checked', async () => {
    const mark = await ingest.mark();
    const from = (origin: string, key = 'wk_web') =>
      post('/v1/track', { userId: 'u', event: 'e', messageId: `origin-${run}-${origin}-${key}` }, { authorization: basic(key), origin });
    expect(await from('https://evil.example')).toMatchObject({
      status: 403,
      body: {
        error: 'origin_not_allowed',
        message: 'Origin: expected one of the origins this write key is for (INGEST_WRITE_KEY_ORIGINS), received "https://evil.example"',
      },
    });
    expect((await from('https://M.Shop.Example.com')).status).toBe(200);
    expect((await from('https://evil.example', 'wk_app')).status).toBe(200);
    const stored = (await ingest.eventsSince(mark)).filter((r) => r.messageId.startsWith(`origin-${run}`)).map((r) => r.messageId);
    expect(stored.sort()).toEqual([`origin-${run}-https://M.Shop.Example.com-wk_web`, `origin-${run}-https://evil.example-wk_app`].sort());
  });

  it('serves health and readiness to anyone, metrics and the OpenAPI document only with an OPERATIONS_TOKENS token', async () => {
    expect(await (await fetch(`${ingest.url}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${ingest.url}/readyz`)).json()).toEqual({ status: 'ready' });
    for (const path of ['/metrics', '/docs', '/docs/json', '/metrics?x=1']) {
      const refused = await fetch(`${ingest.url}${path}`, { headers: { authorization: 'Bearer wrong' } });
      expect(refused.status, path).toBe(401);
      expect(await refused.json()).toEqual({ error: 'unauthorized', message: 'Authorization: expected "Bearer <token>" with a token from OPERATIONS_TOKENS' });
    }
    const ops = { headers: { authorization: 'Bearer ops-token' } };
    const metrics = await (await fetch(`${ingest.url}/metrics`, ops)).text();
    expect(metrics).toMatch(/segstream_ingest_events_accepted_total\{type="track",source="web"\} \d+/);
    expect(metrics).toMatch(/segstream_ingest_events_rejected_total\{reason="invalid_money"\} [1-9]/);
    expect(metrics).toMatch(/segstream_ingest_requests_total\{route="\/v1\/batch",status="413"\} [1-9]/);
    expect(metrics).toContain('segstream_ingest_produce_seconds_bucket');
    const openapi = (await (await fetch(`${ingest.url}/docs/json`, ops)).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(openapi.openapi).toMatch(/^3\./);
    for (const path of ['/v1/track', '/v1/identify', '/v1/page', '/v1/screen', '/v1/group', '/v1/alias', '/v1/batch', '/v1/import'])
      expect(openapi.paths[path], path).toBeDefined();
    expect((await fetch(`${ingest.url}/docs`, ops)).status).toBe(200);
  });
});
