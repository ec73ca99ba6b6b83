import { setTimeout as sleep } from 'node:timers/promises';

/** Polls until `attempt` gives a value; fails naming what did not happen. */
export async function until<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs = 30_000, pollMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await attempt();
    if (value !== undefined) return value;
    await sleep(pollMs);
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms`);
}
