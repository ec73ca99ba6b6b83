import { createHmac } from 'node:crypto';
import { boundedMemo } from '../../lib/bounded-memo.ts';

/**
 * Identifiers are stored and compared only as keyed hashes (HMAC-SHA256 with the
 * operator's secret): matching works, and a copy of Redis or ClickHouse does not reveal
 * phone numbers or OpenIDs. A lookup by phone hashes the query the same way.
 */
export type KeyedHash = (kind: string, value: string) => string;

export function keyedHash(secret: string, cacheSize = 100_000): KeyedHash {
  // The same identities come back event after event; an HMAC costs several microseconds.
  return boundedMemo(
    (kind, value) =>
      createHmac('sha256', secret)
        .update(`${kind}\0${normalize(kind, value)}`)
        .digest('base64url')
        .slice(0, 32),
    cacheSize,
  );
}

/**
 * The same person types the same phone or email in several ways: emails in any case,
 * phones with spaces, brackets or dashes, and a mainland mobile with or without +86 or 0086.
 */
function normalize(kind: string, value: string): string {
  const trimmed = value.trim();
  if (kind === 'email') return trimmed.toLowerCase();
  if (kind === 'phone') return trimmed.replace(/[\s()-]/g, '').replace(/^(?:\+|00)86(1[3-9]\d{9})$/, '$1');
  return trimmed;
}
