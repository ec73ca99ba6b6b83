/**
 * Most bytes of keys and values sent in one produce request. The broker refuses a
 * partition's record batch over its `message.max.bytes` (1 MiB by default) with
 * MESSAGE_TOO_LARGE, and the producer puts everything one send has for a partition in one
 * batch: a slice of thousands of events would exceed it.
 */
export const MAX_SEND_BYTES = 512 * 1024;

/** A record's share of a request besides its key and value (headers, lengths, offsets, timestamps). */
const RECORD_OVERHEAD_BYTES = 64;

/** What a record adds to a request: its key and value. */
export interface SizedRecord {
  readonly key?: string | Buffer;
  readonly value?: Buffer;
}

function sizeOf({ key, value }: SizedRecord): number {
  return (typeof key === 'string' ? Buffer.byteLength(key) : (key?.length ?? 0)) + (value?.length ?? 0) + RECORD_OVERHEAD_BYTES;
}

/** The messages in order, in chunks of at most `maxBytes` each (a larger message goes alone). */
export function sendChunks<R extends SizedRecord>(messages: readonly R[], maxBytes = MAX_SEND_BYTES): R[][] {
  const chunks: R[][] = [];
  let chunk: R[] = [];
  let size = 0;
  for (const message of messages) {
    const bytes = sizeOf(message);
    if (chunk.length > 0 && size + bytes > maxBytes) {
      chunks.push(chunk);
      chunk = [];
      size = 0;
    }
    chunk.push(message);
    size += bytes;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
