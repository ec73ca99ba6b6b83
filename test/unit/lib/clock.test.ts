import { describe, expect, it } from 'vitest';
import { ManualClock, MS_PER_DAY } from '../../../lib/clock.ts';

describe('ManualClock', () => {
  it('moves only when told, and never backwards', () => {
    const clock = new ManualClock(new Date('2026-01-01T00:00:00Z'));
    expect(clock.now()).toBe(Date.UTC(2026, 0, 1));
    clock.advance(31 * MS_PER_DAY);
    expect(new Date(clock.now()).toISOString()).toBe('2026-02-01T00:00:00.000Z');
    expect(() => clock.set(Date.UTC(2025, 0, 1))).toThrow(/cannot move backwards/);
    expect(() => clock.advance(-1)).toThrow(/non-negative/);
  });
});
