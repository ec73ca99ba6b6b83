import { describe, expect, it } from 'vitest';
import { PendingCommits } from '../../../processors/pipeline/pending-commits.ts';

describe('pending commits', () => {
  const owned = new Set([1, 2]);

  it('gives back the offsets of a failed commit for the next one', () => {
    const commits = new PendingCommits();
    commits.set(1, '100');
    const first = commits.take();
    expect(commits.take()).toEqual([]);
    commits.failed(first, owned);
    expect(commits.take()).toEqual([[1, '100']]);
  });

  it('does not give back an offset a later commit passed: the group would move back and stop short of the end', () => {
    const commits = new PendingCommits();
    commits.set(1, '12794');
    commits.set(2, '50');
    const retried = commits.take();
    // While that commit is retried (a rebalance), the last slice completes and the next commit takes it.
    commits.set(1, '12915');
    expect(commits.take()).toEqual([[1, '12915']]);
    commits.failed(retried, owned);
    expect(commits.take()).toEqual([[2, '50']]);
  });

  it('keeps a later pending offset over a failed earlier one, and leaves partitions given away to their new owner', () => {
    const commits = new PendingCommits();
    commits.set(1, '10');
    commits.set(2, '20');
    const failed = commits.take();
    commits.set(1, '15');
    commits.failed(failed, new Set([1]));
    expect(commits.take()).toEqual([[1, '15']]);
    commits.set(2, '30');
    commits.keepOnly(new Set([1]));
    expect(commits.take()).toEqual([]);
  });
});
