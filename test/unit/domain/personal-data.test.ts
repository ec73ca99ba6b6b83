import { describe, expect, it } from 'vitest';
import { keyedHash } from '../../../domain/privacy/keyed-hash.ts';
import { identifierProtector, MASKED, maskPersonalData, personalDataProtector } from '../../../domain/privacy/personal-data.ts';
import type { EventRecord } from '../../../schemas/records.ts';

const hash = keyedHash('unit-test-secret');
const protect = personalDataProtector(hash);

const PHONE = '13912345678';
const EMAIL = 'Canary.Person@example.cn';
const OPENID = 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o';

function event(overrides: Partial<EventRecord>): EventRecord {
  return {
    messageId: 'm1',
    type: 'identify',
    userId: 'u1',
    anonymousId: 'a1',
    previousId: null,
    groupId: null,
    event: null,
    name: null,
    timestamp: 1,
    originalTimestamp: null,
    sentAt: null,
    receivedAt: 1,
    context: '{}',
    properties: '{}',
    traits: '{}',
    integrations: '{}',
    source: 'web',
    flags: [],
    ...overrides,
  };
}

const plainIn = (record: EventRecord) => JSON.stringify(record).match(/13912345678|canary\.person|Canary\.Person|oUpF8uMuAJO_M2pxb1Q9zNjWeS6o/gi) ?? [];

describe('personal data protected before it is stored', () => {
  it('hashes personal fields by name in any spelling and depth, in traits, properties, context and its traits', () => {
    const protectedEvent = protect(
      event({
        traits: JSON.stringify({
          Email: EMAIL,
          mobile: PHONE,
          phone_number: PHONE,
          wechatOpenId: OPENID,
          address: { phone: PHONE, city: '上海' },
          plan: 'gold',
        }),
        properties: JSON.stringify({ contact: { 'Phone-Number': Number(PHONE), emails: [EMAIL] }, 手机号: PHONE, total: 99 }),
        context: JSON.stringify({
          traits: { email: EMAIL },
          page: {
            url: `https://shop.example.cn/p?email=${EMAIL.replace('@', '%40')}&m=${PHONE}`,
            referrer: `https://wx.example.cn/cb?openid=${OPENID}&state=1`,
          },
        }),
      }),
    );
    expect(plainIn(protectedEvent)).toEqual([]);
    const traits = JSON.parse(protectedEvent.traits);
    // The same value hashes alike under any name, so an email trait still matches an email identity.
    expect(traits).toEqual({
      Email_hash: hash('email', EMAIL),
      mobile_hash: hash('phone', PHONE),
      phone_number_hash: hash('phone', PHONE),
      wechatOpenId_hash: hash('wechat_openid', OPENID),
      address: { phone_hash: hash('phone', PHONE), city: '上海' },
      plan: 'gold',
    });
    const properties = JSON.parse(protectedEvent.properties);
    expect(properties.contact).toEqual({ 'Phone-Number_hash': hash('phone', PHONE), emails_hash: [hash('email', EMAIL)] });
    expect(properties.手机号_hash).toBe(hash('phone', PHONE));
    expect(properties.total).toBe(99);
    const context = JSON.parse(protectedEvent.context);
    expect(context.traits).toEqual({ email_hash: hash('email', EMAIL) });
    // A parameter named as a personal field by its name (an OpenID has no shape to find it by), the rest by value.
    expect(context.page.url).toBe(`https://shop.example.cn/p?email=email:${hash('email', EMAIL)}&m=phone:${hash('phone', PHONE)}`);
    expect(context.page.referrer).toBe(`https://wx.example.cn/cb?openid=wechat_openid:${hash('wechat_openid', OPENID)}&state=1`);
  });

  it('replaces an email or phone number used as a user, anonymous or previous id by its hash, and leaves other ids alone', () => {
    const protectedEvent = protect(event({ type: 'alias', userId: EMAIL, anonymousId: '7b0c1a9e-1f2d-4c1b-9a5e-1234567890ab', previousId: `+86${PHONE}` }));
    expect(plainIn(protectedEvent)).toEqual([]);
    expect(protectedEvent.userId).toBe(`email:${hash('email', EMAIL)}`);
    expect(protectedEvent.anonymousId).toBe('7b0c1a9e-1f2d-4c1b-9a5e-1234567890ab');
    expect(protectedEvent.previousId).toBe(`phone:${hash('phone', `+86${PHONE}`)}`);
    // A lookup by that user id asks for what was stored.
    expect(identifierProtector(hash)(EMAIL)).toBe(protectedEvent.userId);
  });

  it('returns an event without personal data as it was, and leaves hashed fields, numbers that are not phones and empty values alone', () => {
    const plain = event({
      traits: JSON.stringify({ plan: 'gold', phone_hash: 'abc' }),
      properties: JSON.stringify({ order_id: '20261208001', total: 13912345678.5, phone: '' }),
    });
    const protectedEvent = protect(plain);
    expect(JSON.parse(protectedEvent.traits)).toEqual({ plan: 'gold', phone_hash: 'abc' });
    expect(JSON.parse(protectedEvent.properties)).toEqual({ order_id: '20261208001', total: 13912345678.5, phone_hash: '' });
    const untouched = event({ traits: JSON.stringify({ plan: 'gold' }), properties: JSON.stringify({ sku: 'A-1', qty: 2 }) });
    expect(protect(untouched)).toBe(untouched);
  });

  it("takes the operator's field patterns", () => {
    const custom = personalDataProtector(hash, [{ kind: 'member_card', names: /^(membercard|会员卡号)$/ }]);
    const protectedEvent = custom(event({ traits: JSON.stringify({ member_card: 'C-998877', 会员卡号: 'C-998877', email: EMAIL }) }));
    // Only the configured fields by name; emails and phones in any text still by value.
    expect(JSON.parse(protectedEvent.traits)).toEqual({
      member_card_hash: hash('member_card', 'C-998877'),
      会员卡号_hash: hash('member_card', 'C-998877'),
      email: `email:${hash('email', EMAIL)}`,
    });
  });
});

describe('answers masked for callers who may not see personal data', () => {
  it('masks personal fields and their hashes at any depth, variables that read them, and hashed ids; leaves the rest', () => {
    const explained = {
      member: { memberId: 'm-1', traits: { Email_hash: 'h1', plan: 'gold', address: { phone_hash: 'h2', city: '上海' } }, verified: true },
      explanation: {
        path: '',
        operator: 'and',
        value: true,
        held: true,
        parts: [
          { path: '0', operator: 'var', variable: 'traits.Email_hash', value: 'h1', held: true },
          { path: '1', operator: 'var', variable: 'traits.plan', value: 'gold', held: true },
        ],
      },
      sample: [{ memberId: 'm-2', values: { 'traits.mobile_hash': 'h3', 'orders.count': 2, 'traits.has_phone': true } }],
      identities: [{ kind: 'user', hash: 'h4' }],
      userId: `email:${'a'.repeat(32)}`,
    };
    expect(maskPersonalData(explained)).toEqual({
      member: { memberId: 'm-1', traits: { Email_hash: MASKED, plan: 'gold', address: { phone_hash: MASKED, city: '上海' } }, verified: true },
      explanation: {
        path: '',
        operator: 'and',
        value: true,
        held: true,
        parts: [
          { path: '0', operator: 'var', variable: 'traits.Email_hash', value: MASKED, held: true },
          { path: '1', operator: 'var', variable: 'traits.plan', value: 'gold', held: true },
        ],
      },
      sample: [{ memberId: 'm-2', values: { 'traits.mobile_hash': MASKED, 'orders.count': 2, 'traits.has_phone': true } }],
      identities: [{ kind: 'user', hash: 'h4' }],
      userId: MASKED,
    });
  });
});
