import { createHash } from 'node:crypto';
import { describeValue, type FieldProblem } from '../problems.ts';
import { mapOrderProperties, type OrderMapping } from './order-mapping.ts';

/**
 * Sensors Data records onto segstream's model (Segment messages). Pure: the caller
 * validates the messages with validate.ts like any other.
 *
 *   track $pageview                  -> page (name = $title; url, path, title, referrer; context.page)
 *   track $MPViewScreen/$AppViewScreen -> screen
 *   track <order event> (mapping)    -> track "Order Completed" / "Order Refunded" (order_id, total, currency)
 *   track (any other, $AppStart, $MPLaunch, $MPShow, ...) -> track, same name
 *   track_signup ($SignUp)           -> identify { userId: distinct_id, anonymousId: original_id } + track $SignUp
 *   track_id_bind                    -> identify (links the identities it names)
 *   profile_set, profile_set_once    -> identify with the properties as traits
 *   profile_unset                    -> identify with each named trait set to null
 *   profile_append, profile_increment, profile_delete -> track "$profile_append", ... (traits unchanged)
 *   track_id_unbind                  -> track (event as sent, else $UnbindID)
 *   item_set, item_delete            -> skipped: items are not members (acknowledged, counted)
 *
 * Identities: login_id / $identity_login_id is the userId; anonymous_id / the device
 * identities ($identity_cookie_id, $identity_mp_id, ...) the anonymousId. Personal
 * identities ($identity_mp_openid and $identity_mp_<appid>_openid, $identity_mp_unionid,
 * $identity_mobile, $identity_email) become the identity traits wechat_openid,
 * wechat_unionid, phone and email of identify messages, which the processors resolve and
 * replace by keyed hashes; on other messages they are dropped, never copied into
 * properties or context.
 */

export interface SensorsMapContext {
  readonly project: string;
  readonly source: string;
  /** The request's User-Agent (the web and mini-program SDKs leave it to the server). */
  readonly userAgent: string | null;
  readonly orders: OrderMapping;
}

export type SensorsMapped =
  | { readonly kind: 'messages'; readonly messages: Record<string, unknown>[] }
  | { readonly kind: 'skipped'; readonly reason: string }
  | { readonly kind: 'invalid'; readonly problems: FieldProblem[] };

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export const SENSORS_TYPES = [
  'track',
  'track_signup',
  'track_id_bind',
  'track_id_unbind',
  'profile_set',
  'profile_set_once',
  'profile_append',
  'profile_increment',
  'profile_unset',
  'profile_delete',
  'item_set',
  'item_delete',
] as const;

/** Device and cookie identities, in the order they are taken for the anonymousId. */
const ANONYMOUS_IDENTITIES = [
  '$identity_cookie_id',
  '$identity_mp_id',
  '$identity_anonymous_id',
  '$identity_android_id',
  '$identity_android_uuid',
  '$identity_ios_idfv',
  '$identity_ios_uuid',
];

/** Personal identities and the identity trait each feeds (processors' PROCESSOR_IDENTITY_TRAITS defaults). */
export function personalIdentityTrait(key: string): string | null {
  if (key === '$identity_mp_openid' || /^\$identity_mp_[A-Za-z0-9_-]+_openid$/.test(key)) return 'wechat_openid';
  if (key === '$identity_mp_unionid') return 'wechat_unionid';
  if (key === '$identity_mobile') return 'phone';
  if (key === '$identity_email') return 'email';
  return null;
}

/** Server SDK libraries: their bare distinct_id is the person's login id (they know people, not devices). */
const SERVER_LIBS = new Set(['node', 'java', 'python', 'php', 'go', 'golang', 'ruby', 'csharp', 'c', 'cpp']);

function idOf(value: unknown): string | null {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return typeof value === 'string' && value.trim() !== '' ? value : null;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A messageId from the record's content (without the send-time `_flush_time`): a resent record gets the same id. */
export function sensorsMessageId(source: string, record: Json, suffix = ''): string {
  const { _flush_time: _ignored, ...content } = record;
  return `sa-${createHash('sha256').update(source).update('\0').update(JSON.stringify(content)).update(suffix).digest('hex').slice(0, 32)}${suffix}`;
}

function pick(properties: Json, entries: readonly (readonly [string, string])[]): Json {
  const out: Json = {};
  for (const [from, to] of entries) if (properties[from] !== undefined && properties[from] !== null && properties[from] !== '') out[to] = properties[from];
  return out;
}

function contextOf(record: Json, properties: Json, lib: Json, ctx: SensorsMapContext, serverLib: boolean, type: string): Json {
  const context: Json = {};
  if (typeof lib.$lib === 'string') context.library = { name: lib.$lib, version: typeof lib.$lib_version === 'string' ? lib.$lib_version : undefined };
  if (ctx.userAgent && !serverLib) context.userAgent = ctx.userAgent;
  const page = pick(properties, [
    ['$url', 'url'],
    ['$url_path', 'path'],
    ['$title', 'title'],
    ['$referrer', 'referrer'],
  ]);
  if (Object.keys(page).length > 0) context.page = page;
  const screen = pick(properties, [
    ['$screen_width', 'width'],
    ['$screen_height', 'height'],
  ]);
  if (Object.keys(screen).length > 0) context.screen = screen;
  const os = pick(properties, [
    ['$os', 'name'],
    ['$os_version', 'version'],
  ]);
  if (Object.keys(os).length > 0) context.os = os;
  const device = pick(properties, [
    ['$manufacturer', 'manufacturer'],
    ['$model', 'model'],
  ]);
  if (Object.keys(device).length > 0) context.device = device;
  if (typeof properties.$app_version === 'string') context.app = { version: properties.$app_version };
  context.sensors = {
    project: ctx.project,
    type,
    ...(typeof record.event === 'string' ? { event: record.event } : {}),
    ...(isObject(record.lib) ? { lib: record.lib } : {}),
    ...(record._track_id !== undefined ? { track_id: record._track_id } : {}),
  };
  return context;
}

/**
 * One Sensors record as Segment messages (usually one). `index` and `prefix` place the
 * record in the request for error messages (`data_list[3].`, or `data.` for one record).
 */
export function mapSensorsRecord(record: unknown, index: number | null, prefix: string, ctx: SensorsMapContext): SensorsMapped {
  const problems: FieldProblem[] = [];
  const problem = (field: string, reason: FieldProblem['reason'], expected: string, value: unknown) =>
    problems.push({ index, field: `${prefix}${field}`, reason, expected, received: describeValue(value) });

  if (!isObject(record)) {
    problems.push({
      index,
      field: prefix === '' ? 'data' : prefix.slice(0, -1),
      reason: 'invalid_field',
      expected: 'a Sensors record (a JSON object)',
      received: describeValue(record),
    });
    return { kind: 'invalid', problems };
  }
  const type = record.type;
  if (typeof type !== 'string' || !(SENSORS_TYPES as readonly string[]).includes(type)) {
    problem('type', type === undefined ? 'missing_field' : 'invalid_field', `one of ${SENSORS_TYPES.join(', ')}`, type);
    return { kind: 'invalid', problems };
  }
  if (type === 'item_set' || type === 'item_delete') return { kind: 'skipped', reason: `sensors_${type}` };

  if (record.project !== undefined && record.project !== ctx.project) {
    problem('project', 'invalid_field', `the project of the request ("${ctx.project}"), or no project`, record.project);
  }
  let properties: Json = {};
  if (record.properties !== undefined && record.properties !== null) {
    if (isObject(record.properties)) properties = record.properties;
    else problem('properties', 'invalid_field', 'a JSON object', record.properties);
  }
  let identities: Json = {};
  if (record.identities !== undefined && record.identities !== null) {
    if (isObject(record.identities)) identities = record.identities;
    else problem('identities', 'invalid_field', 'a JSON object of identity keys to ids', '(not shown: identities)');
  }
  const lib = isObject(record.lib) ? record.lib : {};
  let time: number | null = null;
  if (record.time !== undefined && record.time !== null) {
    if (typeof record.time === 'number' && Number.isFinite(record.time) && record.time > 0) time = record.time;
    else problem('time', 'invalid_timestamp', 'epoch milliseconds (a number, e.g. 1767607200000)', record.time);
  }
  const flushTime = typeof record._flush_time === 'number' && Number.isFinite(record._flush_time) && record._flush_time > 0 ? record._flush_time : null;
  const eventName = record.event;
  const needsEvent = type === 'track' || type === 'track_signup';
  if (needsEvent && !(typeof eventName === 'string' && eventName.trim() !== '')) {
    problem('event', eventName === undefined ? 'missing_field' : 'invalid_field', `the event name (${type} needs event)`, eventName);
  }

  const serverLib = typeof lib.$lib === 'string' && SERVER_LIBS.has(lib.$lib.toLowerCase());
  const distinct = idOf(record.distinct_id);
  let userId = idOf(record.login_id) ?? idOf(identities.$identity_login_id);
  let anonymousId = idOf(record.anonymous_id) ?? ANONYMOUS_IDENTITIES.map((k) => idOf(identities[k])).find((v) => v !== null) ?? null;
  if (type === 'track_signup') {
    // A login: distinct_id is the login id, original_id the anonymous id it links.
    if (distinct === null) problem('distinct_id', 'missing_field', 'the login id (track_signup needs distinct_id)', record.distinct_id);
    const original = idOf(record.original_id) ?? anonymousId;
    if (original === null) problem('original_id', 'missing_field', 'the anonymous id the login links (track_signup needs original_id)', record.original_id);
    userId = distinct;
    anonymousId = original;
  } else if (userId === null && anonymousId === null) {
    if (distinct === null) {
      problem(
        'distinct_id',
        record.distinct_id === undefined ? 'missing_field' : 'invalid_field',
        'the id of the person (every record needs distinct_id)',
        record.distinct_id,
      );
    } else {
      const isLogin = typeof properties.$is_login_id === 'boolean' ? properties.$is_login_id : serverLib;
      if (isLogin) userId = distinct;
      else anonymousId = distinct;
    }
  } else if (distinct !== null && userId === null && distinct !== anonymousId && properties.$is_login_id === true) {
    userId = distinct;
  }
  if (problems.length > 0) return { kind: 'invalid', problems };

  const personalTraits: Json = {};
  for (const [key, value] of Object.entries(identities)) {
    const trait = personalIdentityTrait(key);
    const id = idOf(value);
    if (trait !== null && id !== null) personalTraits[trait] = id;
  }
  const context = contextOf(record, properties, lib, ctx, serverLib, type);
  const base = (suffix = ''): Json => ({
    messageId: sensorsMessageId(ctx.source, record, suffix),
    ...(userId !== null ? { userId } : {}),
    ...(anonymousId !== null ? { anonymousId } : {}),
    ...(time !== null ? { timestamp: iso(time) } : {}),
    ...(flushTime !== null ? { sentAt: iso(flushTime) } : {}),
    context,
  });
  const event = typeof eventName === 'string' ? eventName : null;

  switch (type) {
    case 'track': {
      const name = event as string;
      if (name === '$pageview') {
        const page = pick(properties, [
          ['$url', 'url'],
          ['$url_path', 'path'],
          ['$title', 'title'],
          ['$referrer', 'referrer'],
        ]);
        const title = typeof properties.$title === 'string' && properties.$title.trim() !== '' ? properties.$title : undefined;
        return { kind: 'messages', messages: [{ ...base(), type: 'page', ...(title ? { name: title } : {}), properties: { ...properties, ...page } }] };
      }
      if (name === '$MPViewScreen' || name === '$AppViewScreen') {
        const title = [properties.$title, properties.$screen_name, properties.$url_path].find((v) => typeof v === 'string' && v.trim() !== '');
        return { kind: 'messages', messages: [{ ...base(), type: 'screen', ...(title ? { name: title } : {}), properties }] };
      }
      const rule = ctx.orders.get(name);
      if (rule) {
        const mapped = mapOrderProperties(name, rule, properties, index, prefix);
        if (mapped.problems.length > 0) return { kind: 'invalid', problems: mapped.problems };
        return { kind: 'messages', messages: [{ ...base(), type: 'track', event: rule.as, properties: mapped.properties }] };
      }
      return { kind: 'messages', messages: [{ ...base(), type: 'track', event: name, properties }] };
    }
    case 'track_signup':
      return {
        kind: 'messages',
        messages: [
          { ...base(), type: 'identify', traits: personalTraits },
          { ...base('-signup'), type: 'track', event: event as string, properties },
        ],
      };
    case 'track_id_bind':
      return { kind: 'messages', messages: [{ ...base(), type: 'identify', traits: personalTraits }] };
    case 'profile_set':
    case 'profile_set_once':
      return { kind: 'messages', messages: [{ ...base(), type: 'identify', traits: { ...properties, ...personalTraits } }] };
    case 'profile_unset':
      return { kind: 'messages', messages: [{ ...base(), type: 'identify', traits: Object.fromEntries(Object.keys(properties).map((k) => [k, null])) }] };
    case 'track_id_unbind':
      return { kind: 'messages', messages: [{ ...base(), type: 'track', event: event ?? '$UnbindID', properties }] };
    default:
      // profile_append, profile_increment, profile_delete: the engine's traits are set, not appended or counted.
      return { kind: 'messages', messages: [{ ...base(), type: 'track', event: `$${type}`, properties }] };
  }
}
