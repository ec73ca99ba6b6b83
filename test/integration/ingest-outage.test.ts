import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TOPIC_NAMES } from '../../schemas/topics.ts';
import { LocalKafka } from '../../scripts/stack/local-kafka.ts';
import { ensureTopics } from '../../scripts/stack/topics.ts';
import { type RunningIngest, startIngest } from '../harness/ingest.ts';

// A Kafka of this test's own, so taking it down disturbs no other test.
let broker: LocalKafka;
let ingest: RunningIngest;

beforeAll(async () => {
  broker = await LocalKafka.start({ dir: resolve('.segstream/test/outage-kafka') });
  await ensureTopics(broker.bootstrap, Object.values(DEFAULT_TOPIC_NAMES), { partitions: 4, replicationFactor: 1 });
  ingest = await startIngest(broker.bootstrap, { INGEST_PRODUCE_TIMEOUT_MS: '1500', INGEST_MAX_PENDING_EVENTS: '40' });
});
afterAll(async () => {
  await ingest?.stop();
  await broker?.stop();
});

const auth = { authorization: `Basic ${Buffer.from('wk_web:').toString('base64')}`, 'content-type': 'application/json' };
const batchOf = (label: string, n: number) => ({
  batch: Array.from({ length: n }, (_, i) => ({
    type: 'track',
    messageId: `${label}-${i}`,
    userId: `user-${i % 3}`,
    event: 'Product Viewed',
    properties: { label, i },
  })),
});
const send = async (body: unknown) => {
  const response = await fetch(`${ingest.url}/v1/batch`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as Record<string, unknown> };
};

describe('ingest while Kafka is down (needs Java for a Kafka of its own)', () => {
  it('answers 503/429 with Retry-After and never acknowledges what it did not store; after recovery every 2xx event is in Kafka as sent', async () => {
    const mark = await ingest.mark();
    const acknowledged: Record<string, unknown>[] = [];
    const before = batchOf('before', 10);
    expect((await send(before)).status).toBe(200);
    acknowledged.push(...before.batch);

    await broker.down();
    const during = await send(batchOf('during', 10));
    expect(during.status).toBe(503);
    expect(during.retryAfter).toBe('5');
    expect(during.body).toMatchObject({ success: false, error: 'unavailable', accepted: 0 });
    expect((await fetch(`${ingest.url}/readyz`)).status).toBe(503);

    // With events piling up behind the outage, new requests are refused at once with 429.
    const flood = await Promise.all([send(batchOf('flood-a', 20)), send(batchOf('flood-b', 20)), send(batchOf('flood-c', 20))]);
    const overloaded = flood.filter((r) => r.status === 429);
    expect(overloaded.length).toBeGreaterThan(0);
    expect(overloaded[0]?.retryAfter).toBe('1');
    expect(flood.every((r) => r.status === 429 || r.status === 503)).toBe(true);

    await broker.up();
    // Retry as an SDK would until the broker takes events again.
    const after = batchOf('after', 10);
    const deadline = Date.now() + 60_000;
    let status = 0;
    while (status !== 200 && Date.now() < deadline) {
      status = (await send(after)).status;
      if (status !== 200) await sleep(500);
    }
    expect(status).toBe(200);
    acknowledged.push(...after.batch);
    expect((await fetch(`${ingest.url}/readyz`)).status).toBe(200);

    const stored = await ingest.eventsSince(mark);
    for (const event of acknowledged) {
      const copies = stored.filter((r) => r.messageId === event.messageId);
      expect(copies.length, String(event.messageId)).toBeGreaterThanOrEqual(1);
      // Every copy holds exactly what was sent (a retried request may store an event twice; it is the same event).
      for (const copy of copies)
        expect({ userId: copy.userId, event: copy.event, properties: JSON.parse(copy.properties) }).toEqual({
          userId: event.userId,
          event: event.event,
          properties: event.properties,
        });
    }
  });
});
