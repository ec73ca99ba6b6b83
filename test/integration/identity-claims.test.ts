import { afterAll, describe, expect, inject, it } from 'vitest';
import { keyedHash } from '../../domain/privacy/keyed-hash.ts';
import { RedisPipelineClient } from '../../lib/redis/pipeline-client.ts';
import { DEFAULT_IDENTITY_TRAITS } from '../../processors/identity/identities.ts';
import { IdentityResolver } from '../../processors/identity/resolver.ts';
import { keysWithPrefix } from '../../processors/store/keys.ts';
import { testEvent } from '../harness/test-event.ts';

const redis = new RedisPipelineClient(inject('services').redisUrl);
afterAll(() => redis.close());

describe('identity claims (needs Redis)', () => {
  it("a login planned from reads older than its visitor's first claim joins the visitor's member, and leaves no claim of its own behind", async () => {
    const resolver = new IdentityResolver(redis, keysWithPrefix(`ic${Date.now()}:`), keyedHash('identity-claims-secret'), DEFAULT_IDENTITY_TRAITS);
    const at = Date.UTC(2026, 5, 1);
    const login = testEvent('login', at, { type: 'identify', userId: 'u1', anonymousId: 'visitor-1' });
    const visit = testEvent('visit', at - 60_000, { type: 'page', anonymousId: 'visitor-1' });
    // The login is read and planned first (a new member for the user: nobody holds the visitor yet)...
    const stale = resolver.decide(await resolver.read([login]));
    expect(stale[0]?.plan.created).toBe(true);
    // ...then another slice applies the visitor's first event, claiming its anonymous id.
    const [visitor] = await resolver.resolve([visit]);
    const visitorMember = visitor?.plan.memberId as string;
    // Claimed with the old plan, the login loses the anonymous id; planned again, it is the visitor becoming the user.
    const [resolved] = await resolver.resolve([login], stale);
    expect(resolved?.plan).toMatchObject({ memberId: visitorMember, merge: [], created: false });
    expect(await resolver.memberOf('user', 'u1')).toBe(visitorMember);
  });
});
