import { createRequire } from 'node:module';

/** The part of kafkajs's per-connection RequestQueue the fix touches (kafkajs 2.2.4, src/network/requestQueue). */
interface RequestQueue {
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  readonly pending: readonly unknown[];
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

/** kafkajs's own interval for requests waiting while none is throttled. */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;

/**
 * kafkajs 2.2.4 re-arms a timer on every connection for as long as the connection lives:
 * after each response it schedules a check of the waiting requests at `throttledUntil -
 * now`, which with no throttling (-1) is negative, so Node runs it after 1 ms, and the
 * check schedules the next one (tulios/kafkajs#1751, the TimeoutNegativeWarning on Node 24;
 * the fix, #1768, is not released). An idle consumer used 3.9% of a core with it and 1.4%
 * without, on every connection of every process. Here the check is scheduled only when
 * there is something to check: requests waiting, or a throttle to wait out. Replaces only
 * the code it was written for (so once per process, and not in a kafkajs that changed it).
 */
export function stopIdleRequestQueueTimer(): void {
  const require = createRequire(import.meta.url);
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as { prototype: RequestQueue };
  const original = RequestQueue.prototype.scheduleCheckPendingRequests;
  if (!original.toString().includes('let scheduleAt = this.throttledUntil - Date.now()')) return;
  RequestQueue.prototype.scheduleCheckPendingRequests = function (this: RequestQueue) {
    if (this.throttleCheckTimeoutId) return;
    const throttledForMs = this.throttledUntil - Date.now();
    if (this.pending.length === 0 && throttledForMs <= 0) return;
    this.throttleCheckTimeoutId = setTimeout(
      () => {
        this.throttleCheckTimeoutId = null;
        this.checkPendingRequests();
      },
      throttledForMs > 0 ? throttledForMs : CHECK_PENDING_REQUESTS_INTERVAL_MS,
    );
  };
}
