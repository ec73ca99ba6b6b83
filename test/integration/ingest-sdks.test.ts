import RudderAnalytics from '@rudderstack/rudder-sdk-node';
import { Analytics as SegmentAnalytics } from '@segment/analytics-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { keyedHash } from '../../domain/privacy/keyed-hash.ts';
import type { EventRecord } from '../../schemas/records.ts';
import { type RunningIngest, startIngest } from '../harness/ingest.ts';
import { TEST_HMAC_SECRET } from '../harness/processor-service.ts';

const services = inject('services');
let ingest: RunningIngest;
beforeAll(async () => {
  ingest = await startIngest(services.kafkaBrokers);
});
afterAll(() => ingest.stop());

const json = (text: string) => JSON.parse(text) as Record<string, unknown>;
const run = `${Date.now()}`;

function expectCommon(records: EventRecord[], source: string) {
  for (const record of records) {
    expect(record.source).toBe(source);
    expect(record.messageId.length).toBeGreaterThan(0);
    expect(Math.abs(record.timestamp - record.receivedAt)).toBeLessThan(60_000);
    expect(record.sentAt).not.toBeNull();
  }
}

describe('real SDKs against ingest (needs Kafka)', () => {
  it('@segment/analytics-node: every call type arrives in Kafka as the expected Avro record', async () => {
    const mark = await ingest.mark();
    const errors: unknown[] = [];
    const analytics = new SegmentAnalytics({ writeKey: 'wk_web', host: ingest.url, flushAt: 3, maxRetries: 0 });
    analytics.on('error', (error) => errors.push(error));
    const userId = `seg-user-${run}`;
    analytics.identify({ userId, anonymousId: `seg-anon-${run}`, traits: { plan: 'gold', email: 'x@example.com' } });
    analytics.track({
      userId,
      event: 'Order Completed',
      properties: { order_id: `o-${run}`, total: 42.5, currency: 'USD', products: [{ product_id: 'p1', price: 42.5, quantity: 1 }] },
    });
    analytics.page({ anonymousId: `seg-anon-${run}`, name: 'Home', properties: { path: '/' } });
    analytics.screen({ userId, name: 'Cart' });
    analytics.group({ userId, groupId: `acct-${run}`, traits: { name: 'Acme' } });
    analytics.alias({ userId, previousId: `seg-anon-${run}` });
    await analytics.closeAndFlush({ timeout: 10_000 });
    expect(errors).toEqual([]);

    const records = (await ingest.eventsSince(mark)).filter((r) => r.source === 'web');
    expect(records.map((r) => r.type).sort()).toEqual(['alias', 'group', 'identify', 'page', 'screen', 'track']);
    expectCommon(records, 'web');
    const byType = Object.fromEntries(records.map((r) => [r.type, r]));
    expect(byType.identify).toMatchObject({ userId, anonymousId: `seg-anon-${run}` });
    // Personal data only as its keyed hash (docs/privacy.md).
    expect(json(byType.identify?.traits ?? '{}')).toEqual({ plan: 'gold', email_hash: keyedHash(TEST_HMAC_SECRET)('email', 'x@example.com') });
    expect(byType.track).toMatchObject({ userId, event: 'Order Completed' });
    expect(json(byType.track?.properties ?? '{}')).toMatchObject({ order_id: `o-${run}`, total: 42.5, currency: 'USD' });
    expect(json(byType.track?.context ?? '{}')).toMatchObject({ library: { name: '@segment/analytics-node' } });
    expect(byType.page).toMatchObject({ anonymousId: `seg-anon-${run}`, name: 'Home' });
    expect(byType.screen).toMatchObject({ userId, name: 'Cart' });
    expect(byType.group).toMatchObject({ userId, groupId: `acct-${run}` });
    expect(byType.alias).toMatchObject({ userId, previousId: `seg-anon-${run}` });
  });

  it('@rudderstack/rudder-sdk-node (gzip bodies): every call type arrives in Kafka as the expected Avro record', async () => {
    const mark = await ingest.mark();
    const rudder = new RudderAnalytics('wk_app', { dataPlaneUrl: ingest.url, flushAt: 6, flushInterval: 200, retryCount: 0, logLevel: 'error' });
    expect((rudder as unknown as { gzip: boolean }).gzip).toBe(true);
    const userId = `rudder-user-${run}`;
    const anonymousId = `rudder-anon-${run}`;
    rudder.identify({ userId, anonymousId, traits: { plan: 'silver' } });
    rudder.track({ userId, event: 'Order Refunded', properties: { order_id: `r-${run}`, total: 10, currency: 'CNY' } });
    rudder.page({ anonymousId, name: 'Product', properties: { path: '/p/1' } });
    rudder.screen({ userId, name: 'Home' });
    rudder.group({ userId, groupId: `racct-${run}`, traits: { name: 'Globex' } });
    rudder.alias({ userId, previousId: anonymousId });
    await rudder.flush();

    const records = (await ingest.eventsSince(mark)).filter((r) => r.source === 'app');
    expect(records.map((r) => r.type).sort()).toEqual(['alias', 'group', 'identify', 'page', 'screen', 'track']);
    expectCommon(records, 'app');
    const byType = Object.fromEntries(records.map((r) => [r.type, r]));
    expect(byType.identify).toMatchObject({ userId, anonymousId });
    expect(json(byType.identify?.traits ?? '{}')).toMatchObject({ plan: 'silver' });
    expect(byType.track).toMatchObject({ userId, event: 'Order Refunded' });
    expect(json(byType.track?.properties ?? '{}')).toMatchObject({ order_id: `r-${run}`, total: 10, currency: 'CNY' });
    expect(byType.group).toMatchObject({ groupId: `racct-${run}` });
    expect(byType.alias).toMatchObject({ userId, previousId: anonymousId });
  });
});
