import { describe, expect, it } from 'vitest';
import { eventTimeOf } from '../../../processors/pipeline/event-clock.ts';

const settings = { allowedLatenessMs: 5_000, quietMs: 10_000 };
const NOW = 1_000_000_000;
const busy = (streamTime: number | undefined) => ({ streamTime, lastReceivedAt: streamTime, idle: false });
const idle = (streamTime: number, lastReceivedAt: number) => ({ streamTime, lastReceivedAt, idle: true });

describe('event time', () => {
  it('is the lowest stream time of the partitions with records to apply, less the allowed lateness', () => {
    expect(eventTimeOf([busy(500_000), busy(300_000), idle(900_000, NOW - 1)], NOW, settings)).toBe(295_000);
  });

  it('waits for a partition not read yet', () => {
    expect(eventTimeOf([busy(500_000), busy(undefined)], NOW, settings)).toBeUndefined();
    expect(eventTimeOf([], NOW, settings)).toBeUndefined();
  });

  it('with every partition idle, follows the latest event by the time passed since it was received, until all is quiet', () => {
    // A burst of old history, received seconds ago: 450,000 + 3 s passed, less the lateness.
    expect(eventTimeOf([idle(400_000, NOW - 2_000), idle(450_000, NOW - 3_000)], NOW, settings)).toBe(448_000);
    // Nothing received for the quiet time: the wall clock.
    expect(eventTimeOf([idle(400_000, NOW - 10_000), idle(450_000, NOW - 12_000)], NOW, settings)).toBe(NOW - 5_000);
  });
});
