import { createHmac } from 'node:crypto';

/**
 * Identifiers are stored and compared only as keyed hashes (HMAC-SHA256 with the
 * operator's secret): matching works, and a copy of Redis or ClickHouse does not reveal
 * phone numbers or OpenIDs. A lookup by phone hashes the query the same way.
 */
export type KeyedHash = (kind: string, value: string) => string;

export function keyedHash(secret: string, cacheSize = 100_000): KeyedHash {
  // The same identities come back event after event; an HMAC costs several microseconds.
  const cache = new Map<string, string>();
  return (kind, value) => {
    const input = `${kind}\0${normalize(kind, value)}`;
    let hashed = cache.get(input);
    if (hashed === undefined) {
      hashed = createHmac('sha256', secret).update(input).digest('base64url').slice(0, 32);
      if (cache.size >= cacheSize) cache.delete(cache.keys().next().value as string);
      cache.set(input, hashed);
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
