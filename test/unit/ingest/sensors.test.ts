import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeSensorsPayload, parseSensorsParams, sensorsHashCode } from '../../../ingest/sensors/decode.ts';
import { mapSensorsRecord, type SensorsMapContext } from '../../../ingest/sensors/map.ts';
import { DEFAULT_ORDER_MAPPING_JSON, parseOrderMapping } from '../../../ingest/sensors/order-mapping.ts';
import { SensorsProjects } from '../../../ingest/sensors/projects.ts';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64');
const orders = parseOrderMapping(DEFAULT_ORDER_MAPPING_JSON);
if (!orders) throw new Error('the default order mapping does not parse');
const ctx: SensorsMapContext = { project: 'default', source: 'web_cn', userAgent: 'UA', orders };
const messagesOf = (record: unknown) => {
  const mapped = mapSensorsRecord(record, null, 'data.', ctx);
  if (mapped.kind !== 'messages') throw new Error(`not mapped: ${JSON.stringify(mapped)}`);
  return mapped.messages;
};

describe('Sensors decoding', () => {
  it('computes the web SDK crc (Java String.hashCode as a signed 32-bit int)', () => {
    expect(sensorsHashCode('')).toBe(0);
    expect(sensorsHashCode('abc')).toBe(96354);
    expect(sensorsHashCode('eyJhIjoxfQ==')).toBe(
      ((): number => {
        let h = 0;
        for (const c of 'eyJhIjoxfQ==') h = (h * 31 + c.charCodeAt(0)) | 0;
        return h;
      })(),
    );
  });

  it('decodes data and data_list, base64 with + sent as space, gzip=1, and checks crc', () => {
    const record = { type: 'track', event: '中文', distinct_id: 'd' };
    const data = b64(record);
    const crc = `crc=${sensorsHashCode(data)}`;
    const params = parseSensorsParams(`data=${encodeURIComponent(data).replace(/%2B/g, '+')}&ext=${encodeURIComponent(crc)}&project=p`);
    expect(decodeSensorsPayload(params, 10_000)).toEqual({ ok: true, value: { field: 'data', records: [record] } });
    const list = gzipSync(JSON.stringify([record, record])).toString('base64');
    expect(decodeSensorsPayload({ data_list: list, gzip: '1' }, 10_000)).toMatchObject({ ok: true, value: { field: 'data_list', records: [record, record] } });
    expect(decodeSensorsPayload({ data, ext: 'crc=1' }, 10_000)).toMatchObject({ ok: false, error: { status: 400, error: 'crc_mismatch' } });
  });

  it('names the parameter at fault and bounds the decoded size', () => {
    expect(decodeSensorsPayload({}, 100)).toMatchObject({ ok: false, error: { problems: [{ field: 'data' }] } });
    expect(decodeSensorsPayload({ data: 'not base64!' }, 100)).toMatchObject({ ok: false, error: { problems: [{ field: 'data', expected: 'base64 text' }] } });
    expect(decodeSensorsPayload({ data_list: b64({ a: 1 }) }, 100)).toMatchObject({
      ok: false,
      error: { problems: [{ expected: 'a JSON array of records' }] },
    });
    expect(decodeSensorsPayload({ data: gzipSync('{}').toString('base64') }, 100)).toMatchObject({
      ok: false,
      error: { error: 'invalid_json', problems: [{ expected: 'base64 of JSON (the data is gzip: send gzip=1)' }] },
    });
    const bomb = gzipSync('x'.repeat(100_000)).toString('base64');
    expect(decodeSensorsPayload({ data: bomb, gzip: '1' }, 1_000)).toMatchObject({ ok: false, error: { status: 413 } });
    const deep = Buffer.from(`{"properties":${'['.repeat(5_000)}${']'.repeat(5_000)}}`).toString('base64');
    expect(decodeSensorsPayload({ data: deep }, 100_000)).toMatchObject({
      ok: false,
      error: { status: 400, error: 'too_deeply_nested', problems: [{ field: 'data', expected: 'JSON nested at most 64 levels deep' }] },
    });
  });
});

describe('Sensors projects', () => {
  it('maps project (and token) to a source and refuses unknown ones', () => {
    const projects = SensorsProjects.parse('default=web,shop:t1=mp,shop:t2=mp2');
    expect(projects?.authenticate(undefined, undefined)).toEqual({ ok: true, source: 'web', project: 'default' });
    expect(projects?.authenticate('shop', 't2')).toEqual({ ok: true, source: 'mp2', project: 'shop' });
    expect(projects?.authenticate('shop', undefined)).toMatchObject({ ok: false, field: 'token' });
    expect(projects?.authenticate('shop', 'nope')).toMatchObject({ ok: false, field: 'token' });
    expect(projects?.authenticate('other', undefined)).toMatchObject({ ok: false, field: 'project' });
    for (const bad of ['', 'x', '=web', 'p:=web', 'p=we b']) expect(SensorsProjects.parse(bad), bad).toBeUndefined();
  });
});

describe('Sensors records onto segstream messages', () => {
  const identities = { $identity_cookie_id: 'cookie-1' };
  it('maps $pageview to a page with context.page, and keeps every property', () => {
    const [page] = messagesOf({
      type: 'track',
      event: '$pageview',
      distinct_id: 'cookie-1',
      identities,
      time: 1_767_607_200_000,
      _flush_time: 1_767_607_200_100,
      lib: { $lib: 'js', $lib_version: '1.27.11' },
      properties: { $url: 'https://s/a', $url_path: '/a', $title: 'A', $referrer: '', $screen_width: 390 },
    });
    expect(page).toMatchObject({
      type: 'page',
      name: 'A',
      anonymousId: 'cookie-1',
      timestamp: '2026-01-05T10:00:00.000Z',
      sentAt: '2026-01-05T10:00:00.100Z',
      properties: { url: 'https://s/a', path: '/a', title: 'A', $url: 'https://s/a', $screen_width: 390 },
      context: { userAgent: 'UA', library: { name: 'js', version: '1.27.11' }, page: { url: 'https://s/a', title: 'A' }, screen: { width: 390 } },
    });
    expect(page).not.toHaveProperty('userId');
  });

  it('links a login (track_signup) as an identify carrying both ids, plus the $SignUp event', () => {
    const messages = messagesOf({ type: 'track_signup', event: '$SignUp', distinct_id: 'u1', original_id: 'cookie-1', login_id: 'u1', identities });
    expect(messages.map((m) => [m.type, m.userId, m.anonymousId, m.event])).toEqual([
      ['identify', 'u1', 'cookie-1', undefined],
      ['track', 'u1', 'cookie-1', '$SignUp'],
    ]);
    expect(messages[0]?.messageId).not.toBe(messages[1]?.messageId);
  });

  it('turns personal identities into identity traits of identify messages only', () => {
    const wechat = { $identity_mp_id: 'mp-1', $identity_mp_wx123_openid: 'o-1', $identity_mp_unionid: 'u-1', $identity_mobile: '13800000000' };
    const [bind] = messagesOf({ type: 'track_id_bind', event: '$BindID', distinct_id: 'mp-1', identities: wechat });
    expect(bind).toMatchObject({ type: 'identify', anonymousId: 'mp-1', traits: { wechat_openid: 'o-1', wechat_unionid: 'u-1', phone: '13800000000' } });
    const [track] = messagesOf({ type: 'track', event: 'X', distinct_id: 'mp-1', identities: wechat });
    expect(JSON.stringify(track)).not.toMatch(/o-1|u-1|13800000000/);
  });

  it('maps profiles: set and set_once to traits, unset to null traits, append/increment/delete to events', () => {
    expect(messagesOf({ type: 'profile_set', distinct_id: 'u', properties: { plan: 'gold' }, lib: { $lib: 'Node' } })[0]).toMatchObject({
      type: 'identify',
      userId: 'u',
      traits: { plan: 'gold' },
    });
    expect(messagesOf({ type: 'profile_unset', distinct_id: 'u', properties: { plan: true }, lib: { $lib: 'Node' } })[0]).toMatchObject({
      traits: { plan: null },
    });
    expect(messagesOf({ type: 'profile_append', distinct_id: 'c', properties: { tags: ['a'] } })[0]).toMatchObject({
      type: 'track',
      event: '$profile_append',
      anonymousId: 'c',
    });
    expect(mapSensorsRecord({ type: 'item_set', item_type: 'product', item_id: 'p' }, 0, 'data_list[0].', ctx)).toEqual({
      kind: 'skipped',
      reason: 'sensors_item_set',
    });
  });

  it("maps configured order events to segstream's orders and names the Sensors property at fault", () => {
    const [order] = messagesOf({ type: 'track', event: 'PayOrder', distinct_id: 'u', login_id: 'u', properties: { order_id: 7, order_amount: 10 } });
    expect(order).toMatchObject({ event: 'Order Completed', properties: { order_id: '7', total: 10, currency: 'CNY', order_amount: 10 } });
    expect(mapSensorsRecord({ type: 'track', event: 'PayOrder', distinct_id: 'u', properties: { order_id: 'o' } }, 2, 'data_list[2].', ctx)).toMatchObject({
      kind: 'invalid',
      problems: [{ index: 2, field: 'data_list[2].properties.order_actual_amount', reason: 'missing_field' }],
    });
  });

  it('names the field of a bad record', () => {
    const problems = (record: unknown) => {
      const mapped = mapSensorsRecord(record, 1, 'data_list[1].', ctx);
      return mapped.kind === 'invalid' ? mapped.problems.map((p) => p.field) : [];
    };
    expect(problems('x')).toEqual(['data_list[1]']);
    expect(problems({ type: 'nope' })).toEqual(['data_list[1].type']);
    expect(problems({ type: 'track', distinct_id: 'd' })).toEqual(['data_list[1].event']);
    expect(problems({ type: 'track', event: 'e', time: 'yesterday', distinct_id: 'd' })).toEqual(['data_list[1].time']);
    expect(problems({ type: 'track', event: 'e' })).toEqual(['data_list[1].distinct_id']);
    expect(problems({ type: 'track_signup', event: '$SignUp', distinct_id: 'u' })).toEqual(['data_list[1].original_id']);
    expect(problems({ type: 'track', event: 'e', distinct_id: 'd', project: 'other' })).toEqual(['data_list[1].project']);
  });
});

describe('Sensors order mapping configuration', () => {
  it('parses rules and refuses malformed ones', () => {
    expect(parseOrderMapping('{"Paid":{"as":"Order Completed","orderId":"oid","amount":"amt"}}')?.get('Paid')).toEqual({
      as: 'Order Completed',
      orderId: 'oid',
      amount: ['amt'],
      currency: null,
    });
    for (const bad of [
      '[]',
      '{"P":{"as":"Paid","orderId":"o","amount":"a"}}',
      '{"P":{"as":"Order Completed","amount":"a"}}',
      '{"P":{"as":"Order Completed","orderId":"o","amount":"a","currency":"yuan"}}',
      'nope',
    ])
      expect(parseOrderMapping(bad), bad).toBeUndefined();
  });
});
