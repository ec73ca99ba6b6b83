import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { stopIdleRequestQueueTimer } from '../../../lib/kafka/kafkajs-idle-timer.ts';

interface Queue {
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  pending: unknown[];
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as { prototype: Queue };

/**
 * A connection's request queue as kafkajs leaves it after a response: nothing waiting, no
 * throttle. Its check sends what waits, then schedules the next check, as kafkajs's does.
 */
function idleQueue(): Queue & { checks: number } {
  const queue = Object.create(RequestQueue.prototype) as Queue & { checks: number };
  Object.assign(queue, { throttledUntil: -1, throttleCheckTimeoutId: null, pending: [], checks: 0 });
  queue.checkPendingRequests = function (this: Queue & { checks: number }) {
    this.checks++;
    this.pending.length = 0;
    this.scheduleCheckPendingRequests();
  };
  return queue;
}

afterEach(() => {
  vi.useRealTimers();
});

describe("kafkajs's request queue timer", () => {
  it('as released, checks an idle connection every millisecond for ever; fixed, not at all, and still when requests wait or a throttle ends', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const asReleased = idleQueue();
    asReleased.scheduleCheckPendingRequests();
    vi.advanceTimersByTime(100);
    expect(asReleased.checks).toBeGreaterThanOrEqual(99);
    clearTimeout(asReleased.throttleCheckTimeoutId as NodeJS.Timeout);

    stopIdleRequestQueueTimer();
    stopIdleRequestQueueTimer(); // a second call changes nothing
    const idle = idleQueue();
    idle.scheduleCheckPendingRequests();
    vi.advanceTimersByTime(100);
    expect(idle.checks).toBe(0);
    expect(idle.throttleCheckTimeoutId).toBeNull();

    const waiting = idleQueue();
    waiting.pending.push({});
    waiting.scheduleCheckPendingRequests();
    vi.advanceTimersByTime(10);
    expect(waiting.checks).toBe(1);

    const throttled = idleQueue();
    throttled.throttledUntil = Date.now() + 250;
    throttled.scheduleCheckPendingRequests();
    vi.advanceTimersByTime(249);
    expect(throttled.checks).toBe(0);
    vi.advanceTimersByTime(1);
    expect(throttled.checks).toBe(1);
    vi.advanceTimersByTime(1_000);
    expect(throttled.checks).toBe(1);
  });
});
