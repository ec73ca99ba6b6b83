import { createHmac } from 'node:crypto';

/**
 * Identifiers are stored and compared only as keyed hashes (HMAC-SHA256 with the
 * operator's secret): matching works, and a copy of Redis or ClickHouse does not reveal
 * phone numbers or OpenIDs. A lookup by phone hashes the query the same way.
 */
export type KeyedHash = (kind: string, value: string) => string;

export function keyedHash(secret: string, cacheSize = 100_000): KeyedHash {
  // The same identities come back event after event; an HMAC costs several microseconds.
  // Cached per kind by the value as sent, so a hit builds no string.
  const cache = new Map<string, Map<string, string>>();
  let cached = 0;
  return (kind, value) => {
    let byValue = cache.get(kind);
    if (byValue === undefined) {
      byValue = new Map();
      cache.set(kind, byValue);
    }
    let hashed = byValue.get(value);
    if (hashed === undefined) {
      hashed = createHmac('sha256', secret)
        .update(`${kind}\0${normalize(kind, value)}`)
        .digest('base64url')
        .slice(0, 32);
      // Bounded: when full, start over (a miss only costs one HMAC).
      if (cached >= cacheSize) {
        for (const values of cache.values()) values.clear();
        cached = 0;
      }
      byValue.set(value, hashed);
      cached++;
    }
    return hashed;
  };
}

/** The same person types the same phone or email in several ways. */
function normalize(kind: string, value: string): string {
  const trimmed = value.trim();
  if (kind === 'email') return trimmed.toLowerCase();
  if (kind === 'phone') return trimmed.replace(/[\s()-]/g, '');
  return trimmed;
}
