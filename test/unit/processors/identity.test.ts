import { describe, expect, it } from 'vitest';
import { keyedHash } from '../../../domain/privacy/keyed-hash.ts';
import { identifierProtector, personalDataProtector } from '../../../domain/privacy/personal-data.ts';
import { deviceIdIn, type IdentityRef, identitiesOf, identityRef, identityRefs, planResolution } from '../../../processors/identity/identities.ts';
import { eventProtector } from '../../../processors/identity/protect.ts';
import type { EventRecord } from '../../../schemas/records.ts';
import { testEvent } from '../../harness/test-event.ts';

const ref = identityRef;
const plan = (user: IdentityRef | null, others: IdentityRef[], owners: Record<string, string>, known: string[] = []) =>
  planResolution(
    user,
    others,
    (r) => owners[r.key] ?? null,
    (m) => ({ known: known.includes(m) }),
    (r) => `new:${r.key}`,
  );

describe('planResolution', () => {
  it('creates a member for a first-time visitor and links its identities', () => {
    expect(plan(null, [ref('anon', 'a1'), ref('device', 'd1')], {})).toEqual({
      memberId: 'new:anon:a1',
      link: [ref('anon', 'a1'), ref('device', 'd1')],
      owned: [ref('anon', 'a1'), ref('device', 'd1')],
      merge: [],
      refused: [],
      created: true,
    });
  });

  it('turns the anonymous member into the user when they sign up', () => {
    expect(plan(ref('user', 'u1'), [ref('anon', 'a1')], { 'anon:a1': 'm-anon' })).toEqual({
      memberId: 'm-anon',
      link: [ref('user', 'u1')],
      owned: [ref('user', 'u1'), ref('anon', 'a1')],
      merge: [],
      refused: [],
      created: false,
    });
  });

  it('folds an anonymous member into the known user it turns out to be', () => {
    expect(plan(ref('user', 'u1'), [ref('anon', 'a2')], { 'user:u1': 'm-known', 'anon:a2': 'm-anon2' }, ['m-known'])).toMatchObject({
      memberId: 'm-known',
      merge: ['m-anon2'],
      refused: [],
    });
  });

  it('names the identities a replay finds claimed for its member already as owned, with nothing to claim', () => {
    const replayed = plan(ref('user', 'u1'), [ref('anon', 'a1')], { 'user:u1': 'm-1', 'anon:a1': 'm-1' }, ['m-1']);
    expect(replayed).toMatchObject({ memberId: 'm-1', link: [], owned: [ref('user', 'u1'), ref('anon', 'a1')], merge: [] });
  });

  it('looks an alias previousId up as an earlier user id but never creates it as one', () => {
    const previousAsUser = { ...ref('user', 'p'), lookupOnly: true };
    expect(plan(ref('user', 'u1'), [ref('anon', 'p'), previousAsUser], { 'anon:p': 'm-anon' }).link).toEqual([ref('user', 'u1')]);
  });

  it('never merges two known people through a shared anonymous id', () => {
    const result = plan(ref('user', 'u2'), [ref('anon', 'shared')], { 'anon:shared': 'm-u1' }, ['m-u1']);
    expect(result).toEqual({
      memberId: 'new:user:u2',
      link: [ref('user', 'u2')],
      owned: [ref('user', 'u2')],
      merge: [],
      refused: [{ identity: ref('anon', 'shared'), heldBy: 'm-u1' }],
      created: true,
    });
  });
});

describe('identitiesOf', () => {
  const hash = keyedHash('secret');
  const base = testEvent('m', 0, { source: 's' });

  it('takes identity traits and the device id, hashed with the key, never in plain text', () => {
    const event: EventRecord = {
      ...base,
      type: 'identify',
      userId: 'u1',
      anonymousId: 'a1',
      traits: '{"phone":"+86 138 0000 0000","email":"A@Example.com","plan":"gold"}',
      context: '{"device":{"id":"dev-1"}}',
    };
    const { user, others } = identitiesOf(event, identityRefs(hash), ['phone', 'email']);
    expect(user).toEqual(ref('user', hash('user', 'u1')));
    expect(others.map((o) => o.kind)).toEqual(['anon', 'phone', 'email', 'device']);
    expect(JSON.stringify(others)).not.toContain('138');
    // The same phone typed differently, and the same email in other case, match.
    expect(others.find((o) => o.kind === 'phone')?.hash).toBe(hash('phone', '+8613800000000'));
    expect(others.find((o) => o.kind === 'email')?.hash).toBe(hash('email', 'a@example.com'));
    expect(keyedHash('other-secret')('phone', '+8613800000000')).not.toBe(hash('phone', '+8613800000000'));
    // A mainland mobile with or without its country code is one phone.
    expect(new Set(['13800000000', '+86 138-0000-0000', '0086 138 0000 0000', '+8613800000000'].map((v) => hash('phone', v))).size).toBe(1);
    expect(hash('phone', '+85291234567')).not.toBe(hash('phone', '91234567'));
  });

  it('takes identity traits ingest hashed already as the same identities, and a user id that is an email as ingest stored it', () => {
    const raw: EventRecord = {
      ...base,
      type: 'identify',
      userId: 'A@Example.com',
      anonymousId: null,
      traits: '{"phone":"13800000000","email":"A@Example.com"}',
    };
    const protectedEvent = personalDataProtector(hash)(raw);
    expect(protectedEvent.traits).not.toContain('13800000000');
    const fromPlain = identitiesOf(raw, identityRefs(hash), ['phone', 'email']);
    const fromHashed = identitiesOf(protectedEvent, identityRefs(hash), ['phone', 'email']);
    expect(fromHashed.others).toEqual(fromPlain.others);
    expect(fromHashed.user).toEqual(ref('user', hash('user', identifierProtector(hash)('A@Example.com'))));
  });

  it('hashes an identity trait as its personal kind: a mobile trait matches what ingest stored, and a lookup finds it', () => {
    const raw: EventRecord = { ...base, type: 'identify', userId: null, anonymousId: 'a1', traits: '{"mobile":"+86 139 1234 5678"}' };
    const fromPlain = identitiesOf(raw, identityRefs(hash), ['mobile']);
    const fromHashed = identitiesOf(personalDataProtector(hash)(raw), identityRefs(hash), ['mobile']);
    expect(fromHashed.others).toEqual(fromPlain.others);
    expect(fromPlain.others.find((o) => o.kind === 'mobile')?.hash).toBe(hash('phone', '13912345678'));
  });

  it('gives the very same ref for the same value (its key made once), also after a small cache starts over', () => {
    const refOf = identityRefs(hash, 2);
    const first = refOf('anon', 'a1');
    expect(refOf('anon', 'a1')).toBe(first);
    expect(first).toEqual(ref('anon', hash('anon', 'a1')));
    expect(first.key).toBe(`anon:${hash('anon', 'a1')}`);
    refOf('anon', 'a2');
    refOf('anon', 'a3');
    expect(refOf('anon', 'a1')).toEqual(first);
  });

  it('hashes the same way from its cache, and a small cache evicts without changing results', () => {
    const small = keyedHash('secret', 2);
    const values = ['a', 'b', 'c', 'a', 'b', 'c'].map((v) => small('anon', v));
    expect(values).toEqual(['a', 'b', 'c', 'a', 'b', 'c'].map((v) => keyedHash('secret')('anon', v)));
  });

  it('reads a device id only from context.device.id, as a non-empty string', () => {
    expect(deviceIdIn('{"device":{"id":"dev-1","type":"ios"},"timezone":"Asia/Shanghai"}')).toBe('dev-1');
    for (const context of [
      '{}',
      '{"device":{}}',
      '{"device":{"id":""}}',
      '{"device":{"id":42}}',
      '{"device":"dev-1"}',
      '{"library":{"name":"device"}}',
      'not json',
    ]) {
      expect(deviceIdIn(context)).toBeNull();
    }
  });

  it('links an alias previousId as an anonymous id or an earlier user id', () => {
    const { user, others } = identitiesOf({ ...base, type: 'alias', userId: 'u1', previousId: 'a9' }, identityRefs(hash), []);
    expect(user?.kind).toBe('user');
    expect(others).toEqual([ref('anon', hash('anon', 'a9')), { ...ref('user', hash('user', 'a9')), lookupOnly: true }]);
  });
});

describe('eventProtector', () => {
  const hash = keyedHash('secret');
  const base = testEvent('m', 0);

  it('replaces identity traits by their hashes, also when the key is spelled with JSON escapes', () => {
    const event = { ...base, traits: '{"\\u0070hone":"+8613800000000","plan":"gold"}', properties: '{"email":"a@example.com"}' };
    const protectedEvent = eventProtector(['phone', 'email'], hash)(event);
    expect(JSON.parse(protectedEvent.traits)).toEqual({ phone_hash: hash('phone', '+8613800000000'), plan: 'gold' });
    expect(JSON.parse(protectedEvent.properties)).toEqual({ email_hash: hash('email', 'a@example.com') });
  });

  it('leaves an event without identity traits as it is', () => {
    const event = { ...base, traits: '{"plan":"gold"}', properties: '{"total":5}' };
    expect(eventProtector(['phone', 'email'], hash)(event)).toBe(event);
  });

  it('reads configured trait names literally, not as patterns', () => {
    const event = { ...base, traits: '{"email":"a@example.com","e.mail":"b@example.com"}', properties: '{}' };
    // Matched by its literal name; hashed as the email it names (hashKind), as ingest hashes it.
    expect(JSON.parse(eventProtector(['e.mail'], hash)(event).traits)).toEqual({ email: 'a@example.com', 'e.mail_hash': hash('email', 'b@example.com') });
    const other = { ...base, traits: '{"email":"a@example.com"}', properties: '{}' };
    expect(eventProtector(['e.mail'], hash)(other)).toBe(other);
  });
});
