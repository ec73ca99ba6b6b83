import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, type PageServer, startPageServer, watchRequests } from '../harness/browser.ts';
import { type RunningIngest, startIngest } from '../harness/ingest.ts';
import { PROCESSOR_TOKEN, startProcessor } from '../harness/processor-service.ts';
import { PROCESSOR_TEST_TOPICS } from '../harness/services.ts';
import { until } from '../harness/until.ts';

/**
 * A visitor browses anonymously on two pages, then logs in and orders: once with Sensors'
 * web SDK, once with Segment's. Ingest and a processor service run for real (ingest
 * produces to the processor's test topic); each visitor must end as one member, found by
 * its login and by its anonymous id, with the same visits and order counted.
 */
const services = inject('services');
const run = `${Date.now()}`;
let ingest: RunningIngest;
let pages: PageServer;
let processor: Awaited<ReturnType<typeof startProcessor>>;
beforeAll(async () => {
  ingest = await startIngest(services.kafkaBrokers, {
    KAFKA_TOPIC_EVENTS: PROCESSOR_TEST_TOPICS.events,
    INGEST_WRITE_KEYS: 'wk_member=seg_member',
    INGEST_SENSORS_PROJECTS: 'default=sa_member',
  });
  pages = await startPageServer();
  processor = await startProcessor(services.kafkaBrokers, services.redisUrl, { REDIS_KEY_PREFIX: `sm${run}:`, PROCESSOR_GROUP_ID: `sensors-member-${run}` });
}, 600_000);
afterAll(async () => {
  await processor?.service.lifecycle.stop();
  await pages?.close();
  await ingest?.stop();
});

interface MemberView {
  readonly memberId: string;
  readonly counters: Record<string, Record<string, { count: number }>>;
  readonly orders: { count: number; spend: number };
  readonly identities: unknown[];
}

async function member(kind: string, value: string): Promise<MemberView | undefined> {
  const response = await fetch(`${processor.url}/members/lookup?kind=${kind}&value=${encodeURIComponent(value)}`, {
    headers: { authorization: `Bearer ${PROCESSOR_TOKEN}` },
  });
  if (response.status !== 200) return undefined;
  const body = (await response.json()) as { member?: MemberView & { id?: string; memberId?: string } };
  if (!body.member) return undefined;
  return { ...body.member, memberId: body.member.memberId ?? body.member.id ?? '' };
}

/** Two anonymous page views, a login and an order, in one browser profile; returns the anonymous id the SDK kept. */
async function visit(prefix: string, head: string, onFirst: string, onSecond: string): Promise<{ anonymousId: string; failures: string[] }> {
  pages.page(`/${prefix}/1`, `<!doctype html><title>Shop 1</title>${head}<script>${onFirst}</script>`);
  pages.page(`/${prefix}/2`, `<!doctype html><title>Shop 2</title>${head}<script>${onSecond}</script>`);
  const { page, close } = await launchChromium();
  try {
    const watched = watchRequests(page);
    await page.goto(`${pages.url}/${prefix}/1`);
    const anonymousId = (await page.evaluate('window.done')) as string;
    await until('the first page to deliver its events', async () => (watched.inFlight() === 0 ? true : undefined));
    await page.goto(`${pages.url}/${prefix}/2`);
    await page.evaluate('window.done');
    // Leave once the page has nothing in flight (an SDK without keepalive would resend the rest on its next page load).
    await until('the second page to deliver its events', async () => (watched.inFlight() === 0 ? true : undefined));
    await page.goto(`${pages.url}/away`);
    return { anonymousId, failures: watched.failures };
  } finally {
    await close();
  }
}

describe('an anonymous web visitor who logs in is one member (needs Kafka, Redis, ClickHouse)', () => {
  it('with Sensors, as with Segment: both anonymous visits and the order on the member found by login and by anonymous id', async () => {
    const INGEST = JSON.stringify(ingest.url);
    const saLogin = `sa-member-${run}`;
    const sensorsHead = `<script src="/sdk/sensorsdata.min.js"></script><script>
      var sensors = window['sensorsDataAnalytic201505'];
      sensors.init({ server_url: ${INGEST} + '/sa?project=default', show_log: false });
      sensors.quick('autoTrack');</script>`;
    const sensors = await visit(
      'sa',
      sensorsHead,
      `window.done = Promise.resolve(sensors.quick('getAnonymousID'));`,
      `sensors.login(${JSON.stringify(saLogin)});
       sensors.track('PayOrder', { order_id: 'sa-o-${run}', order_actual_amount: 120 });
       window.done = Promise.resolve(true);`,
    );

    const segLogin = `seg-member-${run}`;
    const segmentHead = `<script src="/sdk/segment-npm.js"></script><script>
      window.loaded = AnalyticsBrowser.load({ writeKey: 'wk_member', cdnURL: ${INGEST} }).then(([a]) => a);</script>`;
    const segment = await visit(
      'seg',
      segmentHead,
      `window.done = window.loaded.then(async (a) => { await a.page(); return a.user().anonymousId(); });`,
      `window.done = window.loaded.then(async (a) => {
         await a.page();
         await a.identify(${JSON.stringify(segLogin)});
         await a.track('Order Completed', { order_id: 'seg-o-${run}', total: 120, currency: 'CNY' });
         return true;
       });`,
    );
    expect(sensors.failures).toEqual([]);
    expect(segment.failures).toEqual([]);

    const settled = async (login: string) =>
      until(
        `the member of ${login} with its order`,
        async () => {
          const found = await member('user', login);
          return found && found.orders.count === 1 ? found : undefined;
        },
        90_000,
        250,
      );
    const saMember = await settled(saLogin);
    const segMember = await settled(segLogin);
    // The anonymous id resolves to the very same member.
    expect((await member('anon', sensors.anonymousId))?.memberId).toBe(saMember.memberId);
    expect((await member('anon', segment.anonymousId))?.memberId).toBe(segMember.memberId);
    const summary = (m: MemberView) => ({ pageViews: m.counters.page_views?.['30d']?.count, orders: m.orders.count, spend: m.orders.spend });
    expect(summary(segMember)).toEqual({ pageViews: 2, orders: 1, spend: 120 });
    expect(summary(saMember)).toEqual(summary(segMember));
  });
});
