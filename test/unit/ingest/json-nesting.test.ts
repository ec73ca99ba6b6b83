import { describe, expect, it } from 'vitest';
import { MAX_JSON_NESTING, nestedDeeperThan } from '../../../ingest/json-nesting.ts';

const nested = (levels: number) => `${'{"a":'.repeat(levels - 1)}[1]${'}'.repeat(levels - 1)}`;

describe('nestedDeeperThan', () => {
  it('counts objects and arrays, not brackets inside strings', () => {
    expect(nestedDeeperThan(nested(MAX_JSON_NESTING), MAX_JSON_NESTING)).toBe(false);
    expect(nestedDeeperThan(nested(MAX_JSON_NESTING + 1), MAX_JSON_NESTING)).toBe(true);
    expect(nestedDeeperThan(nested(6_000), MAX_JSON_NESTING)).toBe(true);
    // Brackets in strings, escaped quotes and backslashes do not nest.
    expect(nestedDeeperThan(JSON.stringify({ s: '[[[[{{{{', t: 'say \\"{[', u: '\\' }), 2)).toBe(false);
    expect(nestedDeeperThan(JSON.stringify({ a: [{ b: 1 }] }), 2)).toBe(true);
    expect(nestedDeeperThan(JSON.stringify([[], [], {}]), 2)).toBe(false);
  });
});
