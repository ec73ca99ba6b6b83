import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls until `attempt` gives a value; fails naming what did not happen, and what
 * `explain` finds then (the state that kept it from happening).
 */
export async function until<T>(
  what: string,
  attempt: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  pollMs = 100,
  explain?: () => Promise<string>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await attempt();
    if (value !== undefined) return value;
    await sleep(pollMs);
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms${explain ? ` (${await explain()})` : ''}`);
}
