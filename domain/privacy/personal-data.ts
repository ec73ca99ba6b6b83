import type { EventRecord } from '../../schemas/records.ts';
import type { KeyedHash } from './keyed-hash.ts';

/**
 * A kind of personal identifier and the field names that hold it, matched against names
 * folded by `foldFieldName`. The kind is what the value is hashed as: a phone under
 * `mobile` and under `phone` gives the same hash, and the identity kinds of the processors
 * (phone, email, wechat_openid, wechat_unionid) are among these.
 */
export interface PersonalField {
  readonly kind: string;
  readonly names: RegExp;
}

/** phone_number, phoneNumber, Phone-Number and "phone number" are one name: phonenumber. */
export function foldFieldName(name: string): string {
  return name.toLowerCase().replace(/[\s_.-]/g, '');
}

export const DEFAULT_PERSONAL_FIELDS: readonly PersonalField[] = [
  {
    kind: 'phone',
    names: /^(phones?|phonenumbers?|phoneno|mobiles?|mobilephone|mobilenumber|mobileno|tel|telephone|telno|cellphone|cell|手机|手机号|手机号码|电话|联系电话)$/,
  },
  { kind: 'email', names: /^(emails?|emailaddress|mail|mailaddress|邮箱|电子邮箱)$/ },
  { kind: 'wechat_openid', names: /openid$/ },
  { kind: 'wechat_unionid', names: /unionid$/ },
  { kind: 'id_card', names: /^(idcard|idcardno|idcardnumber|idnumber|idno|nationalid|身份证|身份证号|身份证号码)$/ },
];

/** The personal kind a field name folds to among `fields`, if any. */
export function personalKindOf(name: string, fields: readonly PersonalField[] = DEFAULT_PERSONAL_FIELDS): string | undefined {
  const folded = foldFieldName(name);
  return fields.find((field) => field.names.test(folded))?.kind;
}

/**
 * The kind a value named `name` is hashed as: the built-in personal kind its name folds to
 * (`mobile` and `phone_number` are phones), else the name itself (`user`, `anon`, a
 * custom identity trait). Ingest, the processors' identities and their lookups all hash
 * with it, so a `mobile` identity trait matches what ingest stored as `mobile_hash`.
 */
export function hashKind(name: string): string {
  return personalKindOf(name) ?? name;
}

/**
 * Whether a lower-cased text may name a built-in personal field in some spelling: a cheap
 * test before a text is parsed (separators may split a name, as in open_id or id-card).
 */
const BUILT_IN_NAME_HINT = /phone|mobile|tel|cell|mail|open[\s_.-]*id|union[\s_.-]*id|id[\s_.-]*(?:card|no|number)|national[\s_.-]*id|手机|电话|邮箱|身份证/;

/** Emails, also URL-encoded (a@b.cn as a%40b.cn in a query string). */
const EMAIL = /[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
/** Mainland mobile numbers (11 digits from 13 to 19, optionally +86) and international numbers written with a +. */
const PHONE = /(?<![0-9A-Za-z])(?:(?:\+|%2B|00)86[\s-]?)?1[3-9]\d{9}(?!\d)|(?<![0-9A-Za-z])(?:\+|%2B)\d{8,15}(?!\d)/g;
const HAS_PHONE = new RegExp(PHONE.source);

const mayHoldEmail = (text: string): boolean => text.includes('@') || text.includes('%40');
/** Whether a text may hold an email or a phone number: a cheap test before a text is parsed. */
const mayHoldIdentifier = (text: string): boolean => mayHoldEmail(text) || HAS_PHONE.test(text);

/** name=value in a query string or form text. */
const QUERY_PARAMETER = /([?&;#]|^)([^=&?#;\s]+)=([^&#;\s]*)/g;

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

/**
 * A text with every email and phone number in it replaced by `<kind>:<keyed hash>`: how
 * user, anonymous and previous ids are stored, and so what a lookup by id must ask for.
 */
export function identifierProtector(hash: KeyedHash): (text: string) => string {
  const hashed = (kind: string, value: string) => hash(kind, kind === 'email' ? value.replace(/%40/gi, '@') : value.replace(/^%2B/i, '+'));
  return (text) => {
    if (!mayHoldIdentifier(text)) return text;
    const withoutEmails = mayHoldEmail(text) ? text.replace(EMAIL, (found) => `email:${hashed('email', found)}`) : text;
    return HAS_PHONE.test(withoutEmails) ? withoutEmails.replace(PHONE, (found) => `phone:${hashed('phone', found)}`) : withoutEmails;
  };
}

/**
 * Replaces personal data in events before they are stored or sent anywhere (ingest does it
 * before Kafka). By field name, at any depth of traits, properties, context (its traits
 * too) and integrations: a field whose folded name is a personal field becomes
 * `<name>_hash` holding the keyed hash of its value (of each value, for a list). By value,
 * in every other text there (a URL's query string, free text) and in the user, anonymous
 * and previous ids: an email or phone number is replaced by `<kind>:<hash>`, so a user id
 * that is a phone number is stored only as its hash; and a URL's parameters named as
 * personal fields (`?openid=...`) have their values replaced the same way. Hashes are keyed (HMAC): the same
 * value always gives the same hash, so matching and counting work, and a copy of the data
 * does not reveal the values. Fields already named `*_hash` are left as they are.
 */
export function personalDataProtector(hash: KeyedHash, fields: readonly PersonalField[] = DEFAULT_PERSONAL_FIELDS): (event: EventRecord) => EventRecord {
  const kindOf = (name: string): string | undefined => (name.endsWith('_hash') ? undefined : personalKindOf(name, fields));
  // Most events name no personal field and hold no email or phone: their texts are not parsed.
  const custom = fields.filter((field) => !DEFAULT_PERSONAL_FIELDS.includes(field));
  const customNames = custom.length > 0 ? new RegExp(custom.map((field) => field.names.source.replace(/^\^|\$$/g, '')).join('|')) : null;
  const builtIn = fields.some((field) => DEFAULT_PERSONAL_FIELDS.includes(field));
  const mayNameField = (json: string) =>
    (builtIn && BUILT_IN_NAME_HINT.test(json.toLowerCase())) || (customNames !== null && customNames.test(foldFieldName(json)));
  const scrubIdentifiers = identifierProtector(hash);
  /** Parameters of a URL (or form text) named as personal fields: an OpenID has no shape to find it by, only its name. */
  const scrubParameters = (text: string): string =>
    text.includes('=')
      ? text.replace(QUERY_PARAMETER, (whole, start: string, name: string, value: string) => {
          const kind = value === '' ? undefined : kindOf(safeDecode(name));
          return kind === undefined ? whole : `${start}${name}=${kind}:${hash(kind, safeDecode(value))}`;
        })
      : text;
  const scrubText = (text: string) => scrubIdentifiers(scrubParameters(text));

  /** A value under a personal field: hashed whole (numbers as written), lists item by item, objects field by field as the same kind. */
  const hashValue = (value: unknown, kind: string): unknown => {
    if (typeof value === 'string') return value.trim() === '' ? value : hash(kind, value);
    if (typeof value === 'number') return hash(kind, String(value));
    if (Array.isArray(value)) return value.map((item) => hashValue(item, kind));
    if (value !== null && typeof value === 'object')
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key.endsWith('_hash') ? key : `${key}_hash`, hashValue(item, kind)]));
    return value;
  };

  /** The value with personal data replaced; `changes.count` counts what was replaced. */
  const scrub = (value: unknown, changes: { count: number }): unknown => {
    if (typeof value === 'string') {
      const scrubbed = scrubText(value);
      if (scrubbed !== value) changes.count++;
      return scrubbed;
    }
    if (Array.isArray(value)) return value.map((item) => scrub(item, changes));
    if (value === null || typeof value !== 'object') return value;
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const kind = kindOf(key);
      if (kind === undefined) out[key] = scrub(item, changes);
      else if (item === null || item === undefined || typeof item === 'boolean') out[key] = item;
      else {
        out[`${key}_hash`] = hashValue(item, kind);
        changes.count++;
      }
    }
    return out;
  };

  const scrubJson = (json: string): string => {
    if (!mayNameField(json) && !mayHoldIdentifier(json)) return json;
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      return scrubText(json);
    }
    const changes = { count: 0 };
    const scrubbed = scrub(parsed, changes);
    return changes.count === 0 ? json : JSON.stringify(scrubbed);
  };

  const scrubId = (id: string | null): string | null => (id === null ? null : scrubIdentifiers(id));

  return (event) => {
    const protectedEvent = {
      ...event,
      userId: scrubId(event.userId),
      anonymousId: scrubId(event.anonymousId),
      previousId: scrubId(event.previousId),
      traits: scrubJson(event.traits),
      properties: scrubJson(event.properties),
      context: scrubJson(event.context),
      integrations: scrubJson(event.integrations),
    };
    const unchanged =
      protectedEvent.userId === event.userId &&
      protectedEvent.anonymousId === event.anonymousId &&
      protectedEvent.previousId === event.previousId &&
      protectedEvent.traits === event.traits &&
      protectedEvent.properties === event.properties &&
      protectedEvent.context === event.context &&
      protectedEvent.integrations === event.integrations;
    return unchanged ? event : protectedEvent;
  };
}

/**
 * Personal fields as an operator writes them: `kind=pattern;kind=pattern`, each pattern a
 * regular expression over folded field names (e.g. `member_card=^(membercard|会员卡号)$`).
 * Undefined when an entry is not of that form or its pattern does not compile.
 */
export function parsePersonalFields(text: string): PersonalField[] | undefined {
  const fields: PersonalField[] = [];
  for (const entry of text.split(';').map((item) => item.trim())) {
    if (entry === '') continue;
    const separator = entry.indexOf('=');
    const kind = entry.slice(0, separator).trim();
    if (separator <= 0 || !/^[a-z][a-z0-9_]*$/.test(kind)) return undefined;
    try {
      fields.push({ kind, names: new RegExp(entry.slice(separator + 1).trim()) });
    } catch {
      return undefined;
    }
  }
  return fields.length > 0 ? fields : undefined;
}

/** What a masked value reads as. */
export const MASKED = '***';

/**
 * A copy of an answer with every value that stands for a person's data masked: values of
 * fields named as personal fields (folded, as at ingest) or holding their hashes
 * (`*_hash`), at any depth, also when the name is a rule variable's path
 * (`traits.Email_hash`, as a key or as the `variable` an explained part reads), and texts
 * that are hashed identifiers (`email:...`, `phone:...`).
 * For callers who may see that a member matched, but not who they are.
 */
export function maskPersonalData(value: unknown, fields: readonly PersonalField[] = DEFAULT_PERSONAL_FIELDS): unknown {
  const personal = (key: string): boolean => {
    const name = key.slice(key.lastIndexOf('.') + 1);
    return name.endsWith('_hash') || personalKindOf(name, fields) !== undefined;
  };
  const mask = (item: unknown): unknown => {
    if (typeof item === 'string') return /^(email|phone):[\w-]{32}$/.test(item) ? MASKED : item;
    if (Array.isArray(item)) return item.map(mask);
    if (item === null || typeof item !== 'object') return item;
    const readsPersonal = typeof (item as { variable?: unknown }).variable === 'string' && personal((item as { variable: string }).variable);
    const hidden = (key: string, inner: unknown) => (personal(key) || (readsPersonal && key === 'value')) && inner !== null && typeof inner !== 'boolean';
    return Object.fromEntries(Object.entries(item).map(([key, inner]) => [key, hidden(key, inner) ? MASKED : mask(inner)]));
  };
  return mask(value);
}
