import { describe, expect, it } from 'vitest';
import { MemberLocks } from '../../../processors/pipeline/member-locks.ts';

/** Lets every pending promise callback run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('member locks', () => {
  it('lets claims on different members go at once', async () => {
    const locks = new MemberLocks();
    const releaseA = await locks.claim(['a', 'b']);
    const releaseC = await locks.claim(['c']);
    expect(locks.size).toBe(3);
    releaseA();
    releaseC();
    expect(locks.size).toBe(0);
  });

  it('makes a claim on a claimed member wait for its release, then claims it', async () => {
    const locks = new MemberLocks();
    const first = await locks.claim(['a', 'b']);
    let granted = false;
    const second = locks.claim(['b', 'c']).then((release) => {
      granted = true;
      return release;
    });
    await settle();
    expect(granted).toBe(false);
    first();
    const release = await second;
    expect(granted).toBe(true);
    // 'a' is free again, 'b' and 'c' belong to the second claim.
    expect(locks.size).toBe(2);
    release();
    expect(locks.size).toBe(0);
  });

  it('grants waiting claims in order, so a later claim does not overtake an earlier one on the same member', async () => {
    const locks = new MemberLocks();
    const order: string[] = [];
    const first = await locks.claim(['a']);
    const second = locks.claim(['a', 'b']).then((release) => {
      order.push('second');
      return release;
    });
    // Free by itself, but queued behind the second claim, which wants 'b' too.
    const third = locks.claim(['b']).then((release) => {
      order.push('third');
      return release;
    });
    await settle();
    expect(order).toEqual([]);
    first();
    (await second)();
    (await third)();
    expect(order).toEqual(['second', 'third']);
    expect(locks.size).toBe(0);
  });

  it('counts a member named twice in one claim once, and ignores a second release', async () => {
    const locks = new MemberLocks();
    const release = await locks.claim(['a', 'a']);
    expect(locks.size).toBe(1);
    release();
    const other = await locks.claim(['a']);
    release();
    expect(locks.size).toBe(1);
    other();
  });
});
