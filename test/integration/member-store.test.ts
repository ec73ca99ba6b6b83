import { afterAll, describe, expect, inject, it } from 'vitest';
import { emptyMemberState } from '../../domain/member/member-state.ts';
import { RedisPipelineClient } from '../../lib/redis/pipeline-client.ts';
import { keysWithPrefix } from '../../processors/store/keys.ts';
import { MemberStore, type OutboxEntry } from '../../processors/store/member-store.ts';

const memberRedis = new RedisPipelineClient(inject('services').redisUrl);
afterAll(() => memberRedis.close());

const entry = (id: string): OutboxEntry => ({
  topic: 'lifecycle',
  record: { id, memberId: 'm1', fromStage: 'prospect', toStage: 'new', at: 1, causeEventId: null, reason: 'first_order' },
});

describe('member outbox (needs Redis)', () => {
  it('acknowledging removes exactly the entries published, when slices of one member overlapped in publishing', async () => {
    const store = new MemberStore(memberRedis, keysWithPrefix(`t${Date.now()}${Math.random().toString(36).slice(2, 8)}:`));
    /** A slice: reads the member, saves it with one new outbox entry, and returns what it will publish (the outbox it read and its entry). */
    const slice = async (id: string) => {
      const loaded = (await store.load([{ memberId: 'm1', messageIds: [] }])).get('m1');
      if (!loaded) throw new Error('not loaded');
      const added = entry(id);
      const conflicts = await store.save([
        {
          memberId: 'm1',
          expectedVersion: loaded.version,
          state: emptyMemberState('m1'),
          known: false,
          outbox: [added],
          seen: [],
          seenHorizon: 0,
          seenKeep: 10,
        },
      ]);
      expect(conflicts).toEqual([]);
      return [...loaded.outbox, added];
    };
    const outbox = async () => (await store.load([{ memberId: 'm1', messageIds: [] }])).get('m1')?.outbox.map((e) => (e.record as { id: string }).id);

    const first = await slice('a'); // publishes [a]
    const second = await slice('b'); // read [a] while the first was still publishing: publishes [a, b]
    await store.acknowledgeOutbox(new Map([['m1', first]]));
    const third = await slice('c'); // publishes [b, c]
    expect(third.map((e) => (e.record as { id: string }).id)).toEqual(['b', 'c']);
    await store.acknowledgeOutbox(new Map([['m1', second]]));
    // c is not published yet: it must stay, so that a crash now still publishes it after the restart.
    expect(await outbox()).toEqual(['c']);
    await store.acknowledgeOutbox(new Map([['m1', third]]));
    expect(await outbox()).toEqual([]);
  });

  it("reads the outboxes of members folded into the one it loads, so a merge's outputs left by a crash are found", async () => {
    const store = new MemberStore(memberRedis, keysWithPrefix(`t${Date.now()}${Math.random().toString(36).slice(2, 8)}:`));
    const write = (memberId: string, changes: object) => ({
      memberId,
      expectedVersion: 0,
      state: { ...emptyMemberState(memberId), ...changes },
      known: memberId === 'u',
      outbox: [entry(`${memberId}-1`)],
      seen: [],
      seenHorizon: 0,
      seenKeep: 10,
    });
    // The merge's save: b folded into u, both with outputs; then a crash before publishing.
    expect(await store.save([write('u', { mergedFrom: ['b'] }), { ...write('b', {}), mergedInto: 'u' }])).toEqual([]);
    const loaded = (await store.load([{ memberId: 'u', messageIds: [] }])).get('u');
    expect(loaded?.outbox.map((e) => (e.record as { id: string }).id)).toEqual(['u-1']);
    expect([...(loaded?.mergedOutboxes ?? [])].map(([id, entries]) => [id, entries.map((e) => (e.record as { id: string }).id)])).toEqual([['b', ['b-1']]]);
    await store.acknowledgeOutbox(new Map([['b', loaded?.mergedOutboxes.get('b') ?? []]]));
    expect((await store.load([{ memberId: 'u', messageIds: [] }])).get('u')?.mergedOutboxes.size).toBe(0);
  });
});
