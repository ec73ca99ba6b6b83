import { describe, expect, it } from 'vitest';
import { emptyMemberState } from '../../../domain/member/member-state.ts';
import { MemberDriver } from '../../../processors/pipeline/member-driver.ts';
import { OutboxInFlight } from '../../../processors/pipeline/outbox-in-flight.ts';
import type { LoadedMember, MemberStore, MemberWrite, OutboxEntry } from '../../../processors/store/member-store.ts';

const transition = (memberId: string, id: string): OutboxEntry => ({
  topic: 'lifecycle',
  record: { id, memberId, fromStage: null, toStage: 'prospect', at: 1, causeEventId: id, reason: 'never_ordered' },
});

/** Members in memory, with a compare-and-set save that refuses `refuseOnce` the first time it is written. */
function memoryStore(refuseOnce: string) {
  const members = new Map<string, { version: number; outbox: OutboxEntry[] }>();
  let refused = false;
  const store = {
    load: async (reads: readonly { memberId: string }[]) =>
      new Map(
        reads.map(({ memberId }) => {
          const stored = members.get(memberId) ?? { version: 0, outbox: [] };
          const loaded: LoadedMember = {
            state: { ...emptyMemberState(memberId), version: stored.version },
            version: stored.version,
            seen: new Map(),
            outbox: [...stored.outbox],
            mergedOutboxes: new Map(),
            known: false,
            mergedInto: null,
          };
          return [memberId, loaded] as const;
        }),
      ),
    save: async (writes: readonly MemberWrite[]) => {
      const conflicts: string[] = [];
      for (const write of writes) {
        if (write.memberId === refuseOnce && !refused) {
          refused = true;
          conflicts.push(write.memberId);
          continue;
        }
        const stored = members.get(write.memberId) ?? { version: 0, outbox: [] };
        members.set(write.memberId, { version: stored.version + 1, outbox: [...stored.outbox, ...write.outbox] });
      }
      return conflicts;
    },
  };
  return store as unknown as MemberStore;
}

describe('MemberDriver', () => {
  it('publishes what an attempt refused on another member saved, though the next attempt leaves that member unchanged', async () => {
    const driver = new MemberDriver(memoryStore('b'), new OutboxInFlight(), {
      dedupHorizonMs: 1_000,
      dedupKeepNewest: 10,
      timerShards: () => 1,
      maxAttempts: 3,
    });
    const savedFirst = new Set<string>();
    const done = await driver.run(
      {
        reads: async () => [
          { memberId: 'a', messageIds: [] },
          { memberId: 'b', messageIds: [] },
        ],
        step: (members) => {
          for (const id of ['a', 'b']) {
            if (savedFirst.has(id)) continue; // saved by the refused attempt: skipped now, as an applied event is
            const member = members.get(id);
            member.state.firstSeenAt = 1;
            member.outputs.transitions.push(transition(id, `${id}-1`).record as never);
          }
        },
        refused: (refused) => {
          for (const id of ['a', 'b']) if (!refused.has(id)) savedFirst.add(id);
        },
      },
      0,
    );
    expect(done.outboxes.get('a')?.map((e) => (e.record as { id: string }).id)).toEqual(['a-1']);
    expect(done.outboxes.get('b')?.map((e) => (e.record as { id: string }).id)).toEqual(['b-1']);
  });

  it('publishes what a member folded into the one it reads left unpublished (a crash between the merge and its publishing)', async () => {
    const stranded = [transition('b', 'b-prospect')];
    const store = {
      load: async () =>
        new Map([
          [
            'u',
            {
              state: { ...emptyMemberState('u'), mergedFrom: ['b'] },
              version: 3,
              seen: new Map(),
              outbox: [],
              mergedOutboxes: new Map([['b', stranded]]),
              known: true,
              mergedInto: null,
            },
          ],
        ]),
      save: async () => [],
    } as unknown as MemberStore;
    const inFlight = new OutboxInFlight();
    const driver = new MemberDriver(store, inFlight, { dedupHorizonMs: 1_000, dedupKeepNewest: 10, timerShards: () => 1, maxAttempts: 1 });
    const unit = { reads: async () => [{ memberId: 'u', messageIds: [] }], step: () => undefined };
    expect((await driver.run(unit, 0)).outboxes.get('b')).toEqual(stranded);
    // Being published by that unit: another unit reading u meanwhile leaves them to it.
    expect((await driver.run(unit, 0)).outboxes.has('b')).toBe(false);
  });
});
