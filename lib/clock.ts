/** The one source of "now" (epoch milliseconds). Injected so tests move time instead of sleeping. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to. */
export class ManualClock implements Clock {
  #now: number;

  constructor(start: number | Date) {
    this.#now = typeof start === 'number' ? start : start.getTime();
  }

  now(): number {
    return this.#now;
  }

  set(to: number | Date): void {
    const next = typeof to === 'number' ? to : to.getTime();
    if (next < this.#now) throw new RangeError(`ManualClock cannot move backwards (from ${this.#now} to ${next})`);
    this.#now = next;
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`ManualClock.advance expects a non-negative number of ms, received ${ms}`);
    this.#now += ms;
  }
}

export const MS_PER_SECOND = 1_000;
export const MS_PER_MINUTE = 60 * MS_PER_SECOND;
export const MS_PER_HOUR = 60 * MS_PER_MINUTE;
export const MS_PER_DAY = 24 * MS_PER_HOUR;
