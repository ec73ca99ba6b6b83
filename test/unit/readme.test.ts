import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readmeWithReference } from '../../scripts/config-reference.ts';

describe('README', () => {
  const readme = readFileSync('README.md', 'utf8');

  it('documents every configuration variable exactly as the config schemas define them', () => {
    // Fails when a variable is added or changed without refreshing: node scripts/config-reference.ts --write
    expect(readme).toBe(readmeWithReference(readme));
  });

  it('gives the two commands a newcomer runs, and CI runs the same test command', () => {
    expect(readme).toContain('./segstream demo');
    expect(readme).toContain('./segstream test');
    expect(readFileSync('.ci/run', 'utf8')).toContain('exec ./segstream test');
  });
});
