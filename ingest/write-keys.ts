import { createHash } from 'node:crypto';

/** How write keys are held: their SHA-256 digest, so no plain key stays in the process. */
export const writeKeyDigest = (key: string): string => createHash('sha256').update(key).digest('hex');

/**
 * Write keys, each bound to a named source. Keys are held as SHA-256 digests so the
 * process keeps no plain key around after start-up.
 */
export class WriteKeys {
  readonly #sources = new Map<string, string>();

  constructor(entries: readonly (readonly [key: string, source: string])[]) {
    for (const [key, source] of entries) this.#sources.set(writeKeyDigest(key), source);
  }

  /** Parses "key1=source1,key2=source2" (INGEST_WRITE_KEYS). */
  static parse(text: string): WriteKeys | undefined {
    const entries = text
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0)
      .map((item) => item.split('='));
    if (entries.length === 0 || entries.some((e) => e.length !== 2 || !e[0] || !/^[A-Za-z0-9._-]+$/.test(e[1] ?? ''))) return undefined;
    return new WriteKeys(entries as [string, string][]);
  }

  sourceOf(key: string): string | undefined {
    return this.#sources.get(writeKeyDigest(key));
  }

  get size(): number {
    return this.#sources.size;
  }
}

/**
 * The write key from HTTP Basic (key as user name, as Segment's SDKs send it), else from
 * the body, else from the query string (RudderStack's beacon and config requests carry
 * `?writeKey=`: a beacon cannot send headers).
 */
export function writeKeyFrom(authorization: string | undefined, body: unknown, queryKey?: unknown): string | undefined {
  if (authorization?.startsWith('Basic ')) {
    const decoded = Buffer.from(authorization.slice('Basic '.length).trim(), 'base64').toString('utf8');
    const user = decoded.includes(':') ? decoded.slice(0, decoded.indexOf(':')) : decoded;
    if (user.length > 0) return user;
  }
  if (typeof body === 'object' && body !== null && typeof (body as { writeKey?: unknown }).writeKey === 'string') {
    const key = (body as { writeKey: string }).writeKey;
    if (key.length > 0) return key;
  }
  if (typeof queryKey === 'string' && queryKey.length > 0) return queryKey;
  return undefined;
}
