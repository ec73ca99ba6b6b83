import { describe, expect, it } from 'vitest';
import { heldEvents, passed } from '../../../processors/pipeline/link-fences.ts';

const frontier = (receivedAt: number, held: Record<string, number> = {}) => ({ receivedAt, held: new Map(Object.entries(held)) });
const event = (partition: number, receivedAt: number, members: string[], linksAcross: number[] = []) => ({ partition, receivedAt, members, linksAcross });
const heldOf = (events: Parameters<typeof heldEvents>[0], stored: Parameters<typeof heldEvents>[1]) => [...heldEvents(events, stored).held];

describe('links across partitions', () => {
  it('wait until the other partition has applied a record received after them', () => {
    expect(passed(undefined, 100, ['u1', 'a1'], 1, 2)).toBe(false);
    expect(passed(frontier(99), 100, ['u1', 'a1'], 1, 2)).toBe(false);
    expect(passed(frontier(100), 100, ['u1', 'a1'], 1, 2)).toBe(false);
    expect(passed(frontier(101), 100, ['u1', 'a1'], 1, 2)).toBe(true);
  });

  it('wait for records of their own members waiting on the other partition, and for no one else', () => {
    expect(passed(frontier(500, { u9: 50 }), 100, ['u1', 'a1'], 1, 2)).toBe(true); // another person's link waits there
    expect(passed(frontier(500, { a1: 50 }), 100, ['u1', 'a1'], 1, 2)).toBe(false); // a1's events from 50 on are not applied
    expect(passed(frontier(500, { a1: 150 }), 100, ['u1', 'a1'], 1, 2)).toBe(true); // everything of a1 before 100 is
  });

  it('received together and waiting for each other, the lower partition goes first', () => {
    expect(passed(frontier(100, { a1: 100 }), 100, ['u1', 'a1'], 1, 2)).toBe(true);
    expect(passed(frontier(100, { a1: 100 }), 100, ['u1', 'a1'], 2, 1)).toBe(false);
  });

  it('hold back each link that waits, and the later events of its partition for the members it changes', () => {
    const stored = new Map([
      [2, frontier(120)],
      [4, frontier(200)],
    ]);
    const slice = [
      event(1, 50, ['m1'], [2]), // passed
      event(1, 150, ['m2', 'a2'], [2]), // waits: partition 2 is at 120
      event(1, 151, ['m3']), // another member: applied
      event(3, 152, ['a2']), // on another partition (where the link's anonymous events are): never waits for it
      event(1, 153, ['a2']), // a member the waiting link merges, on its partition: waits
      event(5, 40, ['m5'], [4]),
    ];
    const { held, frontiers } = heldEvents(slice, stored);
    expect([...held]).toEqual([1, 4]);
    expect(frontiers.get(1)).toEqual(frontier(151, { m2: 150, a2: 150 }));
    expect(frontiers.get(3)).toEqual(frontier(152));
  });

  it('count the records of the other partition that the slice applies before the link', () => {
    const stored = new Map([[2, frontier(90)]]);
    // Partition 2's records up to 130 come first in the slice: the link received at 120 finds it past.
    expect(heldOf([event(2, 110, ['a1']), event(2, 130, ['x']), event(1, 120, ['u1', 'a1'], [2])], stored)).toEqual([]);
    // Only up to 115 in the slice: not yet.
    expect(heldOf([event(2, 115, ['a1']), event(1, 120, ['u1', 'a1'], [2])], stored)).toEqual([1]);
    // Partition 2 has a link of its own waiting that changes a1: the link on partition 1 waits for it.
    expect(heldOf([event(2, 100, ['u2', 'a1'], [3]), event(2, 130, ['x']), event(1, 120, ['u1', 'a1'], [2])], stored)).toEqual([0, 2]);
  });

  it('keep members that waited on a partition before the slice waiting until their records come up again', () => {
    const stored = new Map([[2, frontier(300, { a1: 100 })]]);
    expect(heldOf([event(1, 120, ['u1', 'a1'], [2])], stored)).toEqual([0]);
    // Its waiting records come up first in the slice and are applied: the link passes.
    expect(heldOf([event(2, 100, ['u0', 'a1']), event(1, 120, ['u1', 'a1'], [2])], stored)).toEqual([]);
  });

  it('leave a partition in the slice waiting for exactly what waits there after it, not for members that came up under another id', () => {
    // a1 waited on partition 2; its record comes up resolved to u9 (a1 was merged meanwhile) and is applied.
    const { frontiers } = heldEvents([event(2, 100, ['u9']), event(2, 130, ['x'])], new Map([[2, frontier(90, { a1: 100 })]]));
    expect(frontiers.get(2)).toEqual(frontier(130));
  });
});
