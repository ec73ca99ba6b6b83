import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { EventRecord } from '../../schemas/records.ts';
import { launchChromium, type PageServer, startPageServer, watchRequests } from '../harness/browser.ts';
import { type RunningIngest, startIngest } from '../harness/ingest.ts';
import { until } from '../harness/until.ts';

/**
 * The browser SDKs as shipped, in Debian's Chromium, from a page on another origin than
 * ingest (so CORS is exercised), every bundle served by the test's own server. Each page
 * calls every method and navigates away; the events are then read back from Kafka.
 */
const services = inject('services');
let ingest: RunningIngest;
let pages: PageServer;
beforeAll(async () => {
  ingest = await startIngest(services.kafkaBrokers, {
    INGEST_WRITE_KEYS: 'wk_seg_npm=seg_npm,wk_seg_snippet=seg_snippet,wk_rudder=rudder_web',
    INGEST_SENSORS_PROJECTS: 'default=sensors_web',
  });
  pages = await startPageServer();
}, 600_000);
afterAll(async () => {
  await pages?.close();
  await ingest?.stop();
});

const json = (text: string) => JSON.parse(text) as Record<string, unknown>;

interface PageRun {
  readonly ids: Record<string, string>;
  readonly userAgent: string;
  readonly failures: string[];
  readonly url: string;
}

/** Opens `path` in a fresh browser profile, waits for what the page says it is done with, navigates away. */
async function runPage(path: string, html: string, sent: (requests: { url: string; status: number }[]) => boolean): Promise<PageRun> {
  pages.page(path, html);
  const { page, close } = await launchChromium();
  try {
    const watched = watchRequests(page);
    await page.goto(`${pages.url}${path}`);
    const ids = (await page.evaluate('window.done')) as Record<string, string>;
    const userAgent = (await page.evaluate('navigator.userAgent')) as string;
    // What the page delivers before it is left (the rest goes on unload, by keepalive or beacon).
    await until('the page to send its requests', async () => (sent(watched.requests) ? true : undefined), 30_000);
    // Left only with nothing outstanding: on a loaded machine the SDK may still be sending (its own retries of a
    // slow answer), and leaving would abort those requests, which is the unload test's business, not this one's.
    await until('the page to have no request outstanding', async () => (watched.inFlight() === 0 ? true : undefined), 30_000);
    await page.goto(`${pages.url}/away`);
    return { ids, userAgent, failures: watched.failures, url: `${pages.url}${path}` };
  } finally {
    await close();
  }
}

async function recordsOf(mark: Awaited<ReturnType<RunningIngest['mark']>>, source: string, count: number): Promise<EventRecord[]> {
  return until(
    `${count} events from source ${source} in Kafka`,
    async () => {
      const records = (await ingest.eventsSince(mark)).filter((r) => r.source === source);
      return records.length >= count ? records : undefined;
    },
    60_000,
    250,
  );
}

/** Ingest's own count of answers with an error status: a request from the page that failed would show here even after the page was left. */
async function errorAnswers(): Promise<string[]> {
  const text = await (await fetch(`${ingest.url}/metrics`)).text();
  return text.split('\n').filter((line) => /^segstream_ingest_requests_total\{.*status="[45]\d\d"\}/.test(line));
}

const INGEST = () => JSON.stringify(ingest.url);

/** `inOrder`: the page awaited each call, so the calls before identify carry no userId (the snippet replays its buffered calls once loaded, when the user is known). */
function segmentChecks(records: EventRecord[], run: PageRun, library: RegExp, inOrder: boolean) {
  expect(records.map((r) => r.type).sort()).toEqual(['alias', 'group', 'identify', 'page', 'track']);
  const byType = Object.fromEntries(records.map((r) => [r.type, r])) as Record<string, EventRecord>;
  const anonymousId = run.ids.anonymousId;
  for (const record of records) {
    expect(record.anonymousId).toBe(anonymousId);
    expect(record.messageId).toMatch(/^ajs-next-/);
    expect(record.sentAt).not.toBeNull();
    const context = json(record.context);
    expect(context.userAgent).toBe(run.userAgent);
    expect(context.library).toMatchObject({ name: 'analytics.js' });
    expect((context.library as { version: string }).version).toMatch(library);
    expect(context.page).toMatchObject({ url: run.url, path: new URL(run.url).pathname, title: 'Shop' });
  }
  expect(byType.page).toMatchObject({ name: 'Home' });
  if (inOrder) expect([byType.page?.userId, byType.track?.userId]).toEqual([null, null]);
  expect(json(byType.page?.properties ?? '{}')).toMatchObject({ category: 'Docs', section: 'shoes', url: run.url });
  expect(byType.track).toMatchObject({ event: 'Product Viewed' });
  expect(json(byType.track?.properties ?? '{}')).toEqual({ product_id: 'p1', price: 12.5 });
  expect(byType.alias).toMatchObject({ userId: run.ids.userId });
  // analytics.js fills previousId in when the call is processed: the anonymous id when awaited in order.
  if (inOrder) expect(byType.alias?.previousId).toBe(anonymousId);
  else expect(byType.alias?.previousId).toBeTruthy();
  expect(byType.identify).toMatchObject({ userId: run.ids.userId });
  expect(json(byType.identify?.traits ?? '{}')).toEqual({ plan: 'gold' });
  expect(byType.group).toMatchObject({ userId: run.ids.userId, groupId: 'acct-1' });
  expect(json(byType.group?.traits ?? '{}')).toEqual({ name: 'Acme' });
}

const CALLS = (a: string, userId: string, wait = '') => `
  ${wait} ${a}.page('Docs', 'Home', { section: 'shoes' });
  ${wait} ${a}.track('Product Viewed', { product_id: 'p1', price: 12.5 });
  ${wait} ${a}.alias(${JSON.stringify(userId)});
  ${wait} ${a}.identify(${JSON.stringify(userId)}, { plan: 'gold' });
  ${wait} ${a}.group('acct-1', { name: 'Acme' });`;

describe('browser SDKs in Chromium against ingest (needs Kafka)', () => {
  it('@segment/analytics-next, npm build: settings from ingest, batching to /v1/b delivered by keepalive when the page is left', async () => {
    const mark = await ingest.mark();
    const userId = `seg-npm-${Date.now()}`;
    const run = await runPage(
      '/segment-npm',
      `<!doctype html><title>Shop</title><script src="/sdk/segment-npm.js"></script><script>
      window.done = (async () => {
        const [analytics] = await AnalyticsBrowser.load({ writeKey: 'wk_seg_npm', cdnURL: ${INGEST()} },
          { integrations: { 'Segment.io': { deliveryStrategy: { strategy: 'batching', config: { size: 100, timeout: 600000 } } } } });
        ${CALLS('analytics', userId, 'await')}
        return { anonymousId: analytics.user().anonymousId(), userId: ${JSON.stringify(userId)} };
      })();</script>`,
      (requests) => requests.some((r) => r.url.endsWith('/v1/projects/wk_seg_npm/settings')),
    );
    const records = await recordsOf(mark, 'seg_npm', 5);
    expect(run.failures).toEqual([]);
    segmentChecks(records, run, /^npm:next-1\.84\./, true);
    expect(await errorAnswers()).toEqual([]);
  });

  it('@segment/analytics-next, classic snippet: analytics._cdn at ingest, one request per call to the short routes', async () => {
    const mark = await ingest.mark();
    const userId = `seg-snippet-${Date.now()}`;
    // Segment's snippet (5.2), with the CDN host replaced by the page server and analytics._cdn set to ingest.
    const snippet = `!function(){var i="analytics",analytics=window[i]=window[i]||[];if(!analytics.initialize)if(analytics.invoked)window.console&&console.error&&console.error("Segment snippet included twice.");else{analytics.invoked=!0;analytics.methods=["trackSubmit","trackClick","trackLink","trackForm","pageview","identify","reset","group","track","ready","alias","debug","page","screen","once","off","on","addSourceMiddleware","addIntegrationMiddleware","setAnonymousId","addDestinationMiddleware","register"];analytics.factory=function(e){return function(){if(window[i].initialized)return window[i][e].apply(window[i],arguments);var n=Array.prototype.slice.call(arguments);if(["track","screen","alias","group","page","identify"].indexOf(e)>-1){var c=document.querySelector("link[rel='canonical']");n.push({__t:"bpc",c:c&&c.getAttribute("href")||void 0,p:location.pathname,u:location.href,s:location.search,t:document.title,r:document.referrer})}n.unshift(e);analytics.push(n);return analytics}};for(var n=0;n<analytics.methods.length;n++){var key=analytics.methods[n];analytics[key]=analytics.factory(key)}analytics.load=function(key,n){var t=document.createElement("script");t.type="text/javascript";t.async=!0;t.setAttribute("data-global-segment-analytics-key",i);t.src="${pages.url}/analytics.js/v1/" + key + "/analytics.min.js";var r=document.getElementsByTagName("script")[0];r.parentNode.insertBefore(t,r);analytics._loadOptions=n};analytics._writeKey="wk_seg_snippet";analytics._cdn=${INGEST()};analytics.SNIPPET_VERSION="5.2.0";
      analytics.load("wk_seg_snippet");
      ${CALLS('analytics', userId)}
      }}();`;
    const run = await runPage(
      '/segment-snippet',
      `<!doctype html><title>Shop</title><script>${snippet}
      window.done = new Promise((resolve) => analytics.ready(() => resolve({ anonymousId: analytics.user().anonymousId(), userId: ${JSON.stringify(userId)} })));
      </script>`,
      (requests) => ['/v1/p', '/v1/t', '/v1/a', '/v1/i', '/v1/g'].every((route) => requests.some((r) => r.url.endsWith(route) && r.status === 200)),
    );
    const records = await recordsOf(mark, 'seg_snippet', 5);
    expect(run.failures).toEqual([]);
    segmentChecks(records, run, /^next-1\.84\./, false);
    expect(await errorAnswers()).toEqual([]);
  });

  it('@rudderstack/analytics-js v3: source config from ingest, its AnonymousId/SentAt headers through CORS, anonymous events with userId ""', async () => {
    const mark = await ingest.mark();
    const userId = `rudder-${Date.now()}`;
    const run = await runPage(
      '/rudderstack',
      `<!doctype html><title>Shop</title><script src="/sdk/rudderstack-npm.js"></script><script>
      window.done = new Promise((resolve) => {
        const rudder = new RudderAnalytics();
        rudder.load('wk_rudder', ${INGEST()}, { configUrl: ${INGEST()}, logLevel: 'ERROR' });
        rudder.ready(() => {
          ${CALLS('rudder', userId)}
          resolve({ anonymousId: rudder.getAnonymousId(), userId: ${JSON.stringify(userId)} });
        });
      });</script>`,
      (requests) =>
        ['/v1/page', '/v1/track', '/v1/alias', '/v1/identify', '/v1/group'].every((route) => requests.some((r) => r.url.endsWith(route) && r.status === 200)),
    );
    const records = await recordsOf(mark, 'rudder_web', 5);
    expect(run.failures).toEqual([]);
    expect(records.map((r) => r.type).sort()).toEqual(['alias', 'group', 'identify', 'page', 'track']);
    const byType = Object.fromEntries(records.map((r) => [r.type, r])) as Record<string, EventRecord>;
    for (const record of records) {
      expect(record.anonymousId).toBe(run.ids.anonymousId);
      expect(record.sentAt).not.toBeNull();
      const context = json(record.context);
      expect(context.userAgent).toBe(run.userAgent);
      expect(context.library).toMatchObject({ name: 'RudderLabs JavaScript SDK', version: '3.34.1' });
      expect(context.page).toMatchObject({ url: run.url, path: '/rudderstack', title: 'Shop' });
    }
    // Sent with "userId": "" before the alias: anonymous events.
    expect(byType.page).toMatchObject({ userId: null, name: 'Home' });
    expect(byType.track).toMatchObject({ userId: null, event: 'Product Viewed' });
    expect(json(byType.track?.properties ?? '{}')).toEqual({ product_id: 'p1', price: 12.5 });
    expect(byType.alias).toMatchObject({ userId: run.ids.userId, previousId: run.ids.anonymousId });
    expect(byType.identify).toMatchObject({ userId: run.ids.userId });
    expect(json(byType.identify?.traits ?? '{}')).toMatchObject({ plan: 'gold' });
    expect(byType.group).toMatchObject({ userId: run.ids.userId, groupId: 'acct-1' });
    expect(await errorAnswers()).toEqual([]);
  });

  for (const sendType of ['image', 'ajax', 'beacon'] as const) {
    it(`sa-sdk-javascript (send_type ${sendType}): pageview, track, profiles, login and an order arrive mapped`, async () => {
      const mark = await ingest.mark();
      const loginId = `sa-${sendType}-${Date.now()}`;
      const run = await runPage(
        `/sensors-${sendType}`,
        `<!doctype html><title>Shop</title><script src="/sdk/sensorsdata.min.js"></script><script>
        var sensors = window['sensorsDataAnalytic201505'];
        sensors.init({ server_url: ${INGEST()} + '/sa?project=default', send_type: '${sendType}', show_log: false });
        sensors.quick('autoTrack');
        sensors.track('ViewProduct', { product_id: 'p1', price: 12.5 });
        sensors.setProfile({ plan: 'gold' });
        sensors.appendProfile({ interests: ['shoes'] });
        var anonymousId = sensors.quick('getAnonymousID');
        sensors.login(${JSON.stringify(loginId)});
        sensors.track('PayOrder', { order_id: 'o-${sendType}', order_actual_amount: 99.5 });
        window.done = Promise.resolve({ anonymousId: anonymousId, userId: ${JSON.stringify(loginId)} });
        </script>`,
        (requests) => sendType === 'beacon' || requests.filter((r) => r.url.includes('/sa.gif') && r.status === 200).length >= 6,
      );
      // $pageview, ViewProduct, profile_set, profile_append, track_signup (identify + $SignUp), PayOrder, and the
      // profile_set_once of the first visit the SDK sends by itself.
      const records = await recordsOf(mark, 'sensors_web', 8);
      expect(run.failures).toEqual([]);
      const anonymousId = run.ids.anonymousId as string;
      const page = records.find((r) => r.type === 'page');
      expect(page).toMatchObject({ anonymousId, userId: null, name: 'Shop' });
      expect(json(page?.properties ?? '{}')).toMatchObject({ url: run.url, path: `/sensors-${sendType}`, title: 'Shop', $lib: 'js' });
      const context = json(page?.context ?? '{}');
      expect(context).toMatchObject({
        userAgent: run.userAgent,
        library: { name: 'js', version: '1.27.11' },
        page: { url: run.url, path: `/sensors-${sendType}`, title: 'Shop' },
        sensors: { project: 'default', type: 'track', event: '$pageview' },
      });
      const view = records.find((r) => r.event === 'ViewProduct');
      expect(view).toMatchObject({ type: 'track', anonymousId, userId: null });
      expect(json(view?.properties ?? '{}')).toMatchObject({ product_id: 'p1', price: 12.5 });
      const profile = records.find((r) => r.type === 'identify' && json(r.traits).plan === 'gold');
      expect(profile).toMatchObject({ anonymousId });
      expect(records.find((r) => r.event === '$profile_append')).toBeDefined();
      const login = records.find((r) => r.type === 'identify' && r.userId === loginId);
      expect(login).toMatchObject({ userId: loginId, anonymousId });
      expect(records.find((r) => r.event === '$SignUp')).toMatchObject({ userId: loginId, anonymousId });
      const order = records.find((r) => r.event === 'Order Completed');
      expect(order).toMatchObject({ type: 'track', userId: loginId, anonymousId });
      expect(json(order?.properties ?? '{}')).toMatchObject({ order_id: `o-${sendType}`, total: 99.5, currency: 'CNY', order_actual_amount: 99.5 });
      for (const record of records) {
        expect(record.messageId).toMatch(/^sa-[0-9a-f]{32}/);
        expect(Math.abs(record.timestamp - record.receivedAt)).toBeLessThan(60_000);
      }
      expect(await errorAnswers()).toEqual([]);
    });
  }
});
