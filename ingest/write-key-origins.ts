import { writeKeyDigest } from './write-keys.ts';

const ORIGIN = /^https?:\/\/[^/\s]+$/i;

/**
 * Per write key, the browser origins it may be sent from (INGEST_WRITE_KEY_ORIGINS). A
 * browser write key is public (it is in every page's source); bound to its shop's
 * origins, a copy pasted into another site's pages is refused. Requests without an Origin
 * (server SDKs, apps) and keys without origins are not checked. Keys are held as digests,
 * as WriteKeys holds them.
 */
export class WriteKeyOrigins {
  readonly #origins = new Map<string, ReadonlySet<string>>();

  constructor(entries: readonly (readonly [key: string, origins: readonly string[]])[]) {
    for (const [key, origins] of entries) this.#origins.set(writeKeyDigest(key), new Set(origins.map(normalize)));
  }

  /** Parses "key=origin|origin,key2=origin" (INGEST_WRITE_KEY_ORIGINS); undefined when malformed. */
  static parse(text: string): WriteKeyOrigins | undefined {
    const entries: [string, string[]][] = [];
    for (const item of text.split(',').map((i) => i.trim())) {
      if (item === '') continue;
      const separator = item.indexOf('=');
      const key = item.slice(0, separator);
      const origins = item.slice(separator + 1).split('|');
      if (separator <= 0 || !origins.every((o) => ORIGIN.test(o))) return undefined;
      entries.push([key, origins]);
    }
    return new WriteKeyOrigins(entries);
  }

  /** Whether a request with this key may come from `origin` (the Origin header; undefined: none sent). */
  allows(key: string, origin: string | undefined): boolean {
    if (origin === undefined) return true;
    const origins = this.#origins.get(writeKeyDigest(key));
    return origins === undefined || origins.has(normalize(origin));
  }
}

// Scheme and host are case-insensitive; browsers send them in lower case with no path.
const normalize = (origin: string) => origin.toLowerCase();
