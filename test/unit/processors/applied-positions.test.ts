import { describe, expect, it } from 'vitest';
import { AppliedPositions } from '../../../processors/pipeline/applied-positions.ts';

describe('applied positions of a partition', () => {
  it('commits up to the first record left waiting, then to all its slices took once that one is applied', () => {
    const positions = new AppliedPositions();
    expect(positions.applied(6, '13465', new Set(['13457']))).toBe(13457n);
    // The slice that applies only the record left waiting (it came first in its queue).
    expect(positions.applied(6, '13457', undefined)).toBe(13466n);
    expect(positions.position(6)).toBe(13466n);
  });

  it('tells the position a slice would move to without moving it', () => {
    const positions = new AppliedPositions();
    positions.applied(6, '13465', new Set(['13457']));
    expect(positions.positionAfter(6, '13457', undefined)).toBe(13466n);
    expect(positions.positionAfter(6, '13470', new Set(['13468', '13469']))).toBe(13468n);
    expect(positions.position(6)).toBe(13457n);
    expect(positions.applied(6, '13457', undefined)).toBe(13466n);
  });

  it('keeps what the slices took across a rebalance that keeps the partition (else the commit stops short of the end for ever)', () => {
    const positions = new AppliedPositions();
    positions.applied(6, '13465', new Set(['13457', '13460']));
    positions.keepOnly(new Set([6, 7]));
    expect(positions.applied(6, '13460', undefined)).toBe(13466n);
  });

  it('forgets a partition given away, and starts a partition at where the group reads on', () => {
    const positions = new AppliedPositions();
    positions.applied(6, '99', undefined);
    positions.keepOnly(new Set([7]));
    expect(positions.position(6)).toBeUndefined();
    positions.startAt(6, 40n);
    positions.startAt(6, 50n);
    expect(positions.position(6)).toBe(40n);
    expect(positions.takenThrough(6)).toBe(40n);
    expect(positions.applied(6, '44', undefined)).toBe(45n);
  });
});
