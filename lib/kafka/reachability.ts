import type { Admin } from 'kafkajs';
import type { Clock } from '../clock.ts';

/**
 * "Does the broker answer now?" for readiness probes: a metadata request for one topic,
 * bounded by a timeout and cached briefly so a burst of probes makes one request.
 */
export function brokerReachability(admin: Admin, topic: string, clock: Clock, options = { timeoutMs: 2_000, cacheMs: 1_000 }): () => Promise<boolean> {
  let last: { at: number; ok: boolean } | undefined;
  let inFlight: Promise<boolean> | undefined;
  const check = async () => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), options.timeoutMs);
    });
    const answered = admin.fetchTopicMetadata({ topics: [topic] }).then(
      () => true,
      () => false,
    );
    const ok = await Promise.race([answered, timeout]);
    clearTimeout(timer);
    last = { at: clock.now(), ok };
    return ok;
  };
  return () => {
    if (last && clock.now() - last.at < options.cacheMs) return Promise.resolve(last.ok);
    inFlight ??= check().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}
