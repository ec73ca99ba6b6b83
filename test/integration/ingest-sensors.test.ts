import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { keyedHash } from '../../domain/privacy/keyed-hash.ts';
import { sensorsHashCode } from '../../ingest/sensors/decode.ts';
import type { EventRecord } from '../../schemas/records.ts';
import { type RunningIngest, startIngest } from '../harness/ingest.ts';
import { TEST_HMAC_SECRET } from '../harness/processor-service.ts';
import { until } from '../harness/until.ts';

const services = inject('services');
let ingest: RunningIngest;
beforeAll(async () => {
  ingest = await startIngest(services.kafkaBrokers, {
    INGEST_SENSORS_PROJECTS: 'server:srv-token=sa_server,shop_mp=sa_mp,strict:t1=sa_strict',
    INGEST_MAX_BATCH_EVENTS: '50',
  });
});
afterAll(() => ingest.stop());

const json = (text: string) => JSON.parse(text) as Record<string, unknown>;
const run = Date.now();

async function recordsOf(mark: Awaited<ReturnType<RunningIngest['mark']>>, source: string, count: number): Promise<EventRecord[]> {
  return until(
    `${count} events from ${source} in Kafka`,
    async () => {
      const records = (await ingest.eventsSince(mark)).filter((r) => r.source === source);
      return records.length >= count ? records : undefined;
    },
    60_000,
    250,
  );
}

/** The mini-program SDK's encoding (sa-sdk-miniprogram 1.22 `encodeTrackData`: encodeURIComponent(base64Encode(JSON.stringify(data))), its base64Encode being base64 of the UTF-8 bytes). */
const encodeTrackData = (data: unknown) => encodeURIComponent(Buffer.from(JSON.stringify(data), 'utf8').toString('base64'));

/** Records as sa-sdk-miniprogram 1.22 builds them (store.getUnionId, getIdentities, lib and preset properties). */
function miniProgramRecord(type: string, event: string | undefined, properties: Record<string, unknown>, identities: Record<string, string>, extra = {}) {
  return {
    distinct_id: identities.$identity_mp_id,
    anonymous_id: identities.$identity_mp_id,
    identities: { ...identities, $identity_anonymous_id: identities.$identity_mp_id },
    lib: { $lib: 'MiniProgram', $lib_method: 'code', $lib_version: '1.22.7' },
    properties: { $lib: 'MiniProgram', $lib_version: '1.22.7', $network_type: 'wifi', $model: 'iPhone 15', $manufacturer: 'Apple', $os: 'iOS', ...properties },
    type,
    ...(event ? { event } : {}),
    time: Date.now(),
    _track_id: Math.floor(Math.random() * 1e9),
    ...extra,
  };
}

describe('Sensors Data SDKs against ingest (needs Kafka)', () => {
  it('sa-sdk-node through its real HTTP path (gzip data_list form POST): every call arrives mapped', async () => {
    const mark = await ingest.mark();
    // sa-sdk-node is CommonJS and keeps one submitter per process.
    const SensorsAnalytics = createRequire(import.meta.url)('sa-sdk-node') as new () => Record<string, (...args: unknown[]) => unknown>;
    const sa = new SensorsAnalytics();
    const errors: unknown[] = [];
    const submitter = sa.submitTo?.({ url: `${ingest.url}/sa?project=server&token=srv-token`, gzip: true }) as { catch(fn: (e: unknown) => void): void };
    submitter.catch((error) => errors.push(error));
    const user = `node-user-${run}`;
    const anonymous = `node-anon-${run}`;
    sa.track?.(user, 'ViewProduct', { product_id: 'p1', price: 12.5 });
    sa.trackSignup?.(user, anonymous, { channel: 'app' });
    sa.profileSet?.(user, { plan: 'gold', city: '上海' });
    sa.profileSetOnce?.(user, { first_plan: 'gold' });
    sa.profileAppend?.(user, { interests: ['shoes'] });
    sa.profileIncrement?.(user, { visits: 2 });
    sa.profileUnset?.(user, ['city']);
    sa.track?.(user, 'PayOrder', { order_id: `o-${run}`, order_actual_amount: 88.8 });
    sa.itemSet?.('product', 'p1', { name: 'Shoe' });
    // track, signup (identify + $SignUp), set, set_once, append, increment, unset, order; the item is acknowledged, not stored.
    const records = await recordsOf(mark, 'sa_server', 9);
    expect(errors).toEqual([]);
    for (const record of records) {
      expect(record.userId).toBe(user);
      expect(json(record.context)).toMatchObject({ library: { name: 'Node', version: '1.2.6' }, sensors: { project: 'server' } });
      expect(json(record.context).userAgent).toBeUndefined();
    }
    const byEvent = (event: string) => records.find((r) => r.event === event);
    expect(json(byEvent('ViewProduct')?.properties ?? '{}')).toMatchObject({ product_id: 'p1', price: 12.5 });
    expect(records.find((r) => r.type === 'identify' && r.anonymousId === anonymous)).toBeDefined();
    expect(byEvent('$SignUp')).toMatchObject({ userId: user, anonymousId: anonymous });
    expect(records.filter((r) => r.type === 'identify').map((r) => json(r.traits))).toEqual(
      expect.arrayContaining([expect.objectContaining({ plan: 'gold', city: '上海' }), expect.objectContaining({ first_plan: 'gold' }), { city: null }]),
    );
    expect(json(byEvent('$profile_append')?.properties ?? '{}')).toMatchObject({ interests: ['shoes'] });
    expect(json(byEvent('$profile_increment')?.properties ?? '{}')).toMatchObject({ visits: 2 });
    expect(json(byEvent('Order Completed')?.properties ?? '{}')).toMatchObject({ order_id: `o-${run}`, total: 88.8, currency: 'CNY' });
    const metrics = await (await fetch(`${ingest.url}/metrics`)).text();
    expect(metrics).toMatch(/segstream_ingest_events_skipped_total\{reason="sensors_item_set"\} [1-9]/);
  });

  it("sa-sdk-miniprogram's request format (text/plain data_list POST, data GET) decodes to the same records; OpenID/UnionID only as identity traits", async () => {
    const mark = await ingest.mark();
    const mpId = `mp-${run}`;
    const openid = `oOPENID${run}`;
    const unionid = `uUNIONID${run}`;
    const identities = { $identity_mp_id: mpId };
    const launch = miniProgramRecord('track', '$MPLaunch', { $scene: 'wechat-1001', $url_path: 'pages/index/index', $is_first_time: true }, identities);
    const show = miniProgramRecord('track', '$MPShow', { $scene: 'wechat-1001', $url_path: 'pages/index/index' }, identities);
    const view = miniProgramRecord('track', '$MPViewScreen', { $url_path: 'pages/item/item', $title: '商品' }, identities);
    // bindOpenid / bindUnionid: an ID-Mapping bind carrying the personal identities.
    const withWechat = { ...identities, $identity_mp_wx1234567890_openid: openid, $identity_mp_unionid: unionid };
    const bind = miniProgramRecord('track_id_bind', '$BindID', {}, withWechat);
    const afterBind = miniProgramRecord('track', 'ViewProduct', { product_id: 'p9' }, withWechat);
    const flushed = [launch, show, view, bind, afterBind].map((r) => ({ ...r, _flush_time: Date.now() }));
    // sendStrategy.wxrequest: POST server_url, header content-type text/plain, data "data_list=" + encodeTrackData(records).
    const post = await fetch(`${ingest.url}/sa?project=shop_mp`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'user-agent': 'Mozilla/5.0 (iPhone) MicroMessenger/8.0.50 miniProgram' },
      body: `data_list=${encodeTrackData(flushed)}`,
    });
    expect(post.status).toBe(200);
    // OnceSend: GET server_url?data=encodeTrackData(record).
    const once = miniProgramRecord('track', '$MPHide', { event_duration: 12.5 }, identities, { _flush_time: Date.now() });
    const get = await fetch(`${ingest.url}/sa?project=shop_mp&data=${encodeTrackData(once)}`, {
      headers: { 'user-agent': 'Mozilla/5.0 (iPhone) MicroMessenger/8.0.50 miniProgram' },
    });
    expect(get.status).toBe(200);

    const records = await recordsOf(mark, 'sa_mp', 6);
    expect(records.map((r) => `${r.type}:${r.event ?? r.name}`).sort()).toEqual(
      ['track:$MPLaunch', 'track:$MPShow', 'screen:商品', 'identify:null', 'track:ViewProduct', 'track:$MPHide'].sort(),
    );
    for (const record of records) {
      expect(record.anonymousId).toBe(mpId);
      expect(record.userId).toBeNull();
      expect(json(record.context)).toMatchObject({
        library: { name: 'MiniProgram', version: '1.22.7' },
        userAgent: 'Mozilla/5.0 (iPhone) MicroMessenger/8.0.50 miniProgram',
        os: { name: 'iOS' },
        device: { manufacturer: 'Apple', model: 'iPhone 15' },
        sensors: { project: 'shop_mp' },
      });
      // OpenID and UnionID only in the identify's traits, as keyed hashes the processors resolve.
      const text = `${record.context}${record.properties}${record.anonymousId}${record.userId}`;
      expect(text).not.toContain(openid);
      expect(text).not.toContain(unionid);
    }
    const hash = keyedHash(TEST_HMAC_SECRET);
    expect(json(records.find((r) => r.type === 'identify')?.traits ?? '{}')).toEqual({
      wechat_openid_hash: hash('wechat_openid', openid),
      wechat_unionid_hash: hash('wechat_unionid', unionid),
    });
    expect(json(records.find((r) => r.event === '$MPLaunch')?.properties ?? '{}')).toMatchObject({ $scene: 'wechat-1001', $is_first_time: true });
  });

  it('refuses bad input with a 4xx naming the field, stores nothing of it, never a 5xx', async () => {
    const mark = await ingest.mark();
    const record = { distinct_id: `bad-${run}`, type: 'track', event: 'Bad', time: Date.now(), properties: { n: 1 }, lib: { $lib: 'js' } };
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64');
    const form = async (query: string, body: string) => {
      const response = await fetch(`${ingest.url}/sa${query}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    expect(await form('?project=nope', `data=${encodeURIComponent(b64(record))}`)).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    expect((await form('?project=strict', `data=${encodeURIComponent(b64(record))}`)).body.message).toContain('token');
    expect((await form('?project=strict&token=wrong', `data=${encodeURIComponent(b64(record))}`)).status).toBe(401);
    expect(await form('?project=shop_mp', 'data=%%%')).toMatchObject({ status: 400, body: { rejected: [{ field: 'data' }] } });
    expect(await form('?project=shop_mp', `data=${encodeURIComponent(Buffer.from('not json').toString('base64'))}`)).toMatchObject({
      status: 400,
      body: { error: 'invalid_json' },
    });
    const data = b64(record);
    expect(await form('?project=shop_mp', `data=${encodeURIComponent(data)}&ext=${encodeURIComponent(`crc=${sensorsHashCode(data) + 1}`)}`)).toMatchObject({
      status: 400,
      body: { error: 'crc_mismatch', rejected: [{ field: 'ext.crc' }] },
    });
    expect(await form('?project=shop_mp', `data_list=${encodeURIComponent(data)}&gzip=1`)).toMatchObject({
      status: 400,
      body: { rejected: [{ field: 'data_list' }] },
    });
    expect(await form('?project=shop_mp', 'nothing=here')).toMatchObject({ status: 400, body: { rejected: [{ field: 'data' }] } });
    const mixed = [
      { ...record, event: 'Good' },
      { ...record, type: 'tracks' },
      { ...record, event: 'PayOrder', properties: { order_id: 'o', order_actual_amount: '99' } },
      { ...record, distinct_id: undefined },
    ];
    const partial = await form('?project=shop_mp', `data_list=${encodeURIComponent(b64(mixed))}`);
    expect(partial.status).toBe(400);
    expect(partial.body).toMatchObject({ error: 'invalid_events', accepted: 1 });
    expect((partial.body.rejected as { field: string; reason: string }[]).map((p) => [p.field, p.reason])).toEqual([
      ['data_list[1].type', 'invalid_field'],
      ['data_list[2].properties.order_actual_amount', 'invalid_money'],
      ['data_list[3].distinct_id', 'missing_field'],
    ]);
    const stored = (await ingest.eventsSince(mark)).filter(
      (r) => r.source === 'sa_mp' && r.event !== null && ['Bad', 'Good', 'Order Completed'].includes(r.event),
    );
    expect(stored.map((r) => r.event)).toEqual(['Good']);
    const metrics = await (await fetch(`${ingest.url}/metrics`)).text();
    expect(metrics).not.toMatch(/segstream_ingest_requests_total\{[^}]*status="5\d\d"\}/);
  });

  it("Segment's mobile batch route (/v1/b) and /v1/import take the mobile SDKs' payloads; unknown paths are 404 whatever the body", async () => {
    const mark = await ingest.mark();
    const basic = `Basic ${Buffer.from('wk_app:').toString('base64')}`;
    // analytics-ios / analytics-kotlin: { batch, sentAt, writeKey }, context per message with device and app.
    const message = (i: number) => ({
      type: 'track',
      event: 'Product Added',
      anonymousId: `ios-anon-${run}`,
      messageId: `ios-${run}-${i}`,
      timestamp: new Date().toISOString(),
      properties: { product_id: `p${i}` },
      context: {
        device: { id: `dev-${run}`, model: 'iPhone15,2' },
        os: { name: 'iOS', version: '17.4' },
        app: { version: '3.2.1' },
        library: { name: 'analytics-ios', version: '4.1.8' },
      },
      integrations: {},
    });
    for (const [path, i] of [
      ['/v1/b', 1],
      ['/v1/import', 2],
    ] as const) {
      const response = await fetch(`${ingest.url}${path}`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/json' },
        body: JSON.stringify({ batch: [message(i)], sentAt: new Date().toISOString(), writeKey: 'wk_app' }),
      });
      expect(response.status).toBe(200);
    }
    const records = await recordsOf(mark, 'app', 2);
    expect(records.map((r) => r.messageId).sort()).toEqual([`ios-${run}-1`, `ios-${run}-2`]);
    expect(json(records[0]?.context ?? '{}')).toMatchObject({ library: { name: 'analytics-ios' }, device: { id: `dev-${run}` } });
    for (const contentType of ['text/plain', 'application/json', 'application/x-www-form-urlencoded']) {
      const missing = await fetch(`${ingest.url}/v2/nothing`, { method: 'POST', headers: { 'content-type': contentType }, body: 'data=not json' });
      expect(missing.status, contentType).toBe(404);
      expect(((await missing.json()) as { error: string }).error).toBe('not_found');
    }
  });
});
