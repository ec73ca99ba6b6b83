import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MS_PER_DAY } from '../../lib/clock.ts';
import { createRedis } from '../../lib/redis.ts';
import type { LifecycleTransitionRecord } from '../../schemas/records.ts';
import { encodeWire } from '../../schemas/wire-format.ts';
import { processorState } from '../harness/processor-state.ts';

const redis = createRedis(inject('services').redisUrl);
beforeAll(() => redis.connect());
afterAll(() => redis.quit());

const moves = (outputs: LifecycleTransitionRecord[]) => outputs.map((o) => `${o.fromStage ?? '-'}->${o.toStage}`);
const order = (id: string, total: number) => JSON.stringify({ order_id: id, total, currency: 'USD' });

describe('processor state in Redis, step by step (needs Redis)', () => {
  it('a visitor browses, signs up, orders twice, goes quiet, comes back and refunds', async () => {
    const p = await processorState(redis, inject('services').redisUrl, new Date('2026-03-01T09:00:00Z'));
    const anon = { anonymousId: 'anon-1' };

    // Browses anonymously.
    let step = await p.feed([
      p.event({ ...anon, type: 'page', name: 'Home' }),
      p.event({ ...anon, event: 'Product Viewed', properties: '{"product_id":"p1"}' }),
    ]);
    expect(moves(step.lifecycle)).toEqual(['-->prospect']);
    const visitor = await p.view('anon', 'anon-1');
    expect(visitor?.counters.events?.['1d']).toEqual({ count: 2, sum: 0 });

    // Signs up: identify with both ids, then alias.
    p.clock.advance(60_000);
    step = await p.feed([
      p.event({ ...anon, userId: 'user-1', type: 'identify', traits: '{"email":"Amy@Example.com","phone":"+8613800000001","plan":"basic"}' }),
      p.event({ userId: 'user-1', previousId: 'anon-1', type: 'alias' }),
    ]);
    expect(step.identityChanges.filter((c) => c.action === 'linked').map((c) => c.kind)).toEqual(['user', 'phone', 'email']);
    const member = await p.view('user', 'user-1');
    expect(member?.memberId).toBe(visitor?.memberId);
    expect(await p.resolver.memberOf('email', 'amy@example.com')).toBe(visitor?.memberId);
    expect(await p.resolver.memberOf('phone', '+86 138 0000 0001')).toBe(visitor?.memberId);
    // Identifiers are only stored hashed.
    const stored = JSON.stringify(await redis.hgetall(p.keys.member(visitor?.memberId as string)));
    expect(stored).not.toContain('+8613800000001');
    expect(stored).not.toContain('Amy@Example.com');
    expect(member?.traits).toEqual({ plan: 'basic', email_hash: p.hash('email', 'amy@example.com'), phone_hash: p.hash('phone', '+8613800000001') });

    // First order, then another five days later.
    p.clock.advance(3_600_000);
    step = await p.feed([p.event({ userId: 'user-1', event: 'Order Completed', properties: order('o1', 120) })]);
    expect(moves(step.lifecycle)).toEqual(['prospect->new']);
    p.clock.advance(5 * MS_PER_DAY);
    step = await p.feed([p.event({ userId: 'user-1', event: 'Order Completed', properties: order('o2', 80) })]);
    expect(moves(step.lifecycle)).toEqual(['new->active']);
    const lastOrderAt = p.clock.now();
    expect((await p.view('user', 'user-1'))?.rfm).toMatchObject({ frequency: 2, monetary: 200, r: 5, f: 2, m: 2 });

    // Quiet: nothing on day 30, silent on day 31, churned on day 61, with no event at all.
    p.clock.set(lastOrderAt + 30 * MS_PER_DAY);
    expect(await p.sweep()).toEqual([]);
    p.clock.set(lastOrderAt + 31 * MS_PER_DAY);
    const silent = await p.sweep();
    expect(moves(silent)).toEqual(['active->silent']);
    expect(silent[0]).toMatchObject({ at: lastOrderAt + 30 * MS_PER_DAY + 1, causeEventId: null, reason: 'no_order_30d' });
    p.clock.set(lastOrderAt + 61 * MS_PER_DAY);
    expect(moves(await p.sweep())).toEqual(['silent->churned']);
    expect((await p.view('user', 'user-1'))?.lifecycle?.stage).toBe('churned');

    // Orders again: reactivated.
    step = await p.feed([p.event({ userId: 'user-1', anonymousId: 'anon-2', event: 'Order Completed', properties: order('o3', 50) })]);
    expect(moves(step.lifecycle)).toEqual(['churned->reactivated']);

    // Refunds the first order: M drops, F does not.
    p.clock.advance(MS_PER_DAY);
    step = await p.feed([p.event({ userId: 'user-1', event: 'Order Refunded', properties: order('o1', 120) })]);
    expect(step.lifecycle).toEqual([]);
    const final = await p.view('user', 'user-1');
    expect(final?.rfm).toMatchObject({ frequency: 3, monetary: 130 });
    expect(final?.orders).toMatchObject({ count: 3, spend: 250, refunds: 1, refunded: 120 });
    expect(final?.lifecycle?.stage).toBe('reactivated');
  });

  it('replaying the same records, or a client retry at a new offset, changes nothing; only a re-read whose history may be missing goes to history again', async () => {
    const p = await processorState(redis, inject('services').redisUrl, new Date('2026-04-01T09:00:00Z'));
    const events = [p.event({ userId: 'u-r', event: 'Order Completed', properties: order('o1', 10) }), p.event({ userId: 'u-r', event: 'Product Viewed' })];
    const first = await p.feed(events, [10, 11]);
    expect(first).toMatchObject({ applied: 2, duplicates: 0 });
    expect(first.events.map((e) => e.event.messageId)).toEqual(events.map((e) => e.messageId));
    const before = await p.view('user', 'u-r');
    // The same offsets again (a re-read after a crash before the commit): its history may not have been written.
    const reread = await p.feed(events, [10, 11]);
    expect(reread).toMatchObject({ applied: 0, duplicates: 2, lifecycle: [] });
    expect(reread.events.map((e) => e.event.messageId)).toEqual(events.map((e) => e.messageId));
    // ... unless it was (a replay by another consumer group over the same state).
    expect((await p.feed(events, [10, 11], new Map([[0, 11]]))).events).toEqual([]);
    expect((await p.feed(events, [10, 11], new Map([[0, 10]]))).events.map((e) => e.event.messageId)).toEqual([events[1]?.messageId]);
    // The same message ids at new offsets, received again later with a new sentAt (an SDK retry): never history.
    const retried = events.map((e) => ({ ...e, sentAt: e.receivedAt + 60_000, receivedAt: e.receivedAt + 60_050 }));
    const retry = await p.feed(retried, [20, 21]);
    expect(retry).toMatchObject({ applied: 0, duplicates: 2, lifecycle: [], events: [] });
    expect(await p.view('user', 'u-r')).toEqual(before);
  });

  it('a re-read after a merge goes to history under the member that applied it, not the one it resolves to now', async () => {
    const p = await processorState(redis, inject('services').redisUrl, new Date('2026-04-02T09:00:00Z'));
    const known = await p.feed([p.event({ userId: 'u-m', anonymousId: 'phone-1', type: 'page' })]);
    const knownId = known.events[0]?.memberId as string;
    // Browses on a second device, anonymously, then logs in there: the device's member merges into the known one.
    const browsing = [p.event({ anonymousId: 'laptop-1', type: 'page' }), p.event({ anonymousId: 'laptop-1', event: 'Product Viewed' })];
    const applied = await p.feed(browsing, [30, 31]);
    const laptopId = applied.events[0]?.memberId as string;
    expect(laptopId).not.toBe(knownId);
    const login = await p.feed([p.event({ userId: 'u-m', anonymousId: 'laptop-1', type: 'identify' })], [32]);
    expect(login.identityChanges.filter((c) => c.action === 'merged').map((c) => [c.memberId, c.otherMemberId])).toEqual([[knownId, laptopId]]);
    // The browsing records read again before their history was known to be written (a crash before the commit).
    const reread = await p.feed(browsing, [30, 31]);
    expect(reread).toMatchObject({ applied: 0, duplicates: 2 });
    expect(reread.events.map((e) => e.memberId)).toEqual([laptopId, laptopId]);
    // An event the known member applied itself stays its own.
    expect(
      (
        await p.feed(
          login.events.map((e) => e.event),
          [32],
        )
      ).events.map((e) => e.memberId),
    ).toEqual([knownId]);
  });

  it('an event saved by an attempt refused on another member goes to history under the member it was applied to, merged meanwhile or not', async () => {
    const start = new Date('2026-04-03T09:00:00Z');
    const p = await processorState(redis, inject('services').redisUrl, start);
    // Another replica of the processor, on the same keys: it logs the laptop in while this one retries.
    const other = await processorState(redis, inject('services').redisUrl, start, { keyPrefix: p.keyPrefix });
    const knownId = (await p.feed([p.event({ userId: 'u-s', anonymousId: 'phone-2', type: 'page' })], [0])).events[0]?.memberId as string;
    await p.feed([p.event({ userId: 'u-x', type: 'page' })], [1]);
    const save = p.store.save.bind(p.store);
    let interfered = false;
    let laptopId: string | undefined;
    p.store.save = async (writes) => {
      if (interfered) return save(writes);
      interfered = true;
      // u-x is changed by another writer before this save (refused), and the laptop's member, saved
      // by it, is merged into the known one before the next attempt.
      await redis.hincrby(p.keys.member((await p.resolver.memberOf('user', 'u-x')) as string), 'v', 1);
      const refused = await save(writes);
      const login = await other.feed([other.event({ userId: 'u-s', anonymousId: 'laptop-2', type: 'identify' })], [10]);
      laptopId = login.identityChanges.find((c) => c.action === 'merged')?.otherMemberId ?? undefined;
      return refused;
    };
    const result = await p.feed([p.event({ anonymousId: 'laptop-2', type: 'page' }), p.event({ userId: 'u-x', event: 'Product Viewed' })], [2, 3]);
    expect(interfered).toBe(true);
    expect(result).toMatchObject({ applied: 2, duplicates: 0 });
    const [laptop, ux] = result.events;
    expect(laptopId).toBeDefined();
    expect(laptop?.memberId).toBe(laptopId);
    expect(await p.resolver.memberOf('anon', 'laptop-2')).toBe(knownId);
    expect(ux?.memberId).toBe(await p.resolver.memberOf('user', 'u-x'));
  });

  it('applies a batch again when another writer changed one of its members, and counts what the first attempt saved as applied, not duplicate', async () => {
    const p = await processorState(redis, inject('services').redisUrl, new Date('2026-04-01T09:00:00Z'));
    const save = p.store.save.bind(p.store);
    let interfered = false;
    // Another writer changes one member between this batch's read and its write, once.
    p.store.save = async (writes) => {
      if (!interfered) {
        interfered = true;
        await redis.hincrby(p.keys.member((writes.at(-1) as (typeof writes)[number]).memberId), 'v', 1);
      }
      return save(writes);
    };
    const result = await p.feed([
      p.event({ userId: 'u-a', event: 'Product Viewed' }),
      p.event({ userId: 'u-b', event: 'Product Viewed' }),
      p.event({ userId: 'u-a', event: 'Order Completed', properties: order('oa', 10) }),
      p.event({ userId: 'u-b', event: 'Order Completed', properties: order('ob', 20) }),
    ]);
    expect(interfered).toBe(true);
    expect(result).toMatchObject({ applied: 4, duplicates: 0 });
    const a = (await p.view('user', 'u-a'))?.memberId;
    // The outputs of the member saved by the first attempt come back from its outbox, once.
    expect(result.lifecycle.map((t) => `${t.memberId === a ? 'a' : 'b'}:${t.toStage}`).sort()).toEqual(['a:new', 'a:prospect', 'b:new', 'b:prospect']);
    expect((await p.view('user', 'u-a'))?.counters.events?.['1d']).toEqual({ count: 2, sum: 0 });
    expect((await p.view('user', 'u-b'))?.counters.orders?.['1d']).toEqual({ count: 1, sum: 20 });
  });

  it('drops the client retries of an old log replayed today, and keeps only the newest message ids past the horizon', async () => {
    const p = await processorState(redis, inject('services').redisUrl, new Date('2026-06-01T09:00:00Z'));
    const longAgo = p.clock.now() - 60 * 86_400_000;
    const viewed = (i: number) => ({ ...p.event({ userId: 'u-h', event: 'Product Viewed' }), timestamp: longAgo + i, receivedAt: longAgo + i });
    const original = viewed(0);
    expect(await p.feed([original])).toMatchObject({ applied: 1, duplicates: 0 });
    // The SDK retry a minute later, in another poll: 60 days old by the clock, still a duplicate.
    expect(await p.feed([{ ...original, receivedAt: longAgo + 60_000 }])).toMatchObject({ applied: 0, duplicates: 1 });
    // Past the horizon only the newest 5 (in this harness) are kept: memory stays bounded.
    expect(await p.feed([1, 2, 3, 4, 5].map(viewed))).toMatchObject({ applied: 5 });
    const memberId = (await p.resolver.memberOf('user', 'u-h')) as string;
    expect((await p.store.allSeen(memberId)).map((s) => s.receivedAt - longAgo)).toEqual([1, 2, 3, 4, 5]);
  });

  it('folds an anonymous member into the known member exactly once, and never merges two known people', async () => {
    const p = await processorState(redis, inject('services').redisUrl, new Date('2026-05-01T09:00:00Z'));
    await p.feed([p.event({ userId: 'u-m', anonymousId: 'device-a', event: 'Order Completed', properties: order('o1', 30) })]);
    // Later, browsing anonymously on another device.
    await p.feed([p.event({ anonymousId: 'device-b', event: 'Product Viewed' }), p.event({ anonymousId: 'device-b', event: 'Product Added' })]);
    const anonymousMember = await p.resolver.memberOf('anon', 'device-b');
    // Logs in on that device: device-b's member merges into u-m.
    const login = p.event({ userId: 'u-m', anonymousId: 'device-b', event: 'Logged In' });
    const merged = await p.feed([login]);
    expect(merged.identityChanges.filter((c) => c.action === 'merged')).toEqual([expect.objectContaining({ otherMemberId: anonymousMember })]);
    const known = await p.view('user', 'u-m');
    expect(await p.resolver.memberOf('anon', 'device-b')).toBe(known?.memberId);
    expect(known?.counters.events?.['1d']).toEqual({ count: 4, sum: 0 });
    expect(known?.counters.cart_adds?.['1d']).toEqual({ count: 1, sum: 0 });
    // The merge event replayed: still once.
    await p.feed([login], [Number.MAX_SAFE_INTEGER - 1]);
    expect((await p.view('user', 'u-m'))?.counters.events?.['1d']).toEqual({ count: 4, sum: 0 });

    // Another known person on device-a (a shared tablet): refused, recorded, kept apart.
    const other = await p.feed([p.event({ userId: 'u-other', anonymousId: 'device-a', event: 'Logged In' })]);
    expect(other.identityChanges.filter((c) => c.action === 'refused')).toEqual([expect.objectContaining({ kind: 'anon', otherMemberId: known?.memberId })]);
    const otherMember = await p.view('user', 'u-other');
    expect(otherMember?.memberId).not.toBe(known?.memberId);
    expect(otherMember?.counters.events?.['1d']).toEqual({ count: 1, sum: 0 });
    expect((await p.view('user', 'u-m'))?.counters.events?.['1d']).toEqual({ count: 4, sum: 0 });
  });

  it('sends undecodable, unknown-schema, too old and too far future records to the dead-letter topic with a reason', async () => {
    const p = await processorState(redis, inject('services').redisUrl, new Date('2026-06-01T09:00:00Z'));
    const ok = p.event({ userId: 'u-d', event: 'Product Viewed' });
    const result = await p.feedRaw([
      { partition: 2, offset: '5', timestamp: p.clock.now(), key: Buffer.from('k'), value: Buffer.from('{"not":"avro"}') },
      { partition: 2, offset: '6', timestamp: p.clock.now(), key: null, value: encodeWire(999, Buffer.from([1, 2])) },
      {
        partition: 2,
        offset: '7',
        timestamp: p.clock.now(),
        key: null,
        value: p.codec.encode(p.event({ userId: 'u-d', timestamp: p.clock.now() - 500 * MS_PER_DAY })),
      },
      {
        partition: 2,
        offset: '8',
        timestamp: p.clock.now(),
        key: null,
        value: p.codec.encode(p.event({ userId: 'u-d', timestamp: p.clock.now() + 2 * 3_600_000 })),
      },
      { partition: 2, offset: '9', timestamp: p.clock.now(), key: null, value: p.codec.encode(ok) },
    ]);
    expect(result.deadLetters.map((d) => [d.id, d.reason, d.sourcePartition, d.sourceOffset])).toEqual([
      ['segstream.events.v1/2/5', 'not_wire_format', 2, 5],
      ['segstream.events.v1/2/6', 'unknown_schema_id', 2, 6],
      ['segstream.events.v1/2/7', 'too_old', 2, 7],
      ['segstream.events.v1/2/8', 'too_far_in_future', 2, 8],
    ]);
    expect(result.deadLetters[0]?.value?.toString()).toBe('{"not":"avro"}');
    expect(result.applied).toBe(1);
  });
});
