import type { Message } from 'kafkajs';

/**
 * Most bytes of keys and values sent in one produce request. The broker refuses a
 * partition's record batch over its `message.max.bytes` (1 MiB by default) with
 * MESSAGE_TOO_LARGE, and kafkajs puts everything one send has for a partition in one
 * batch: a slice of thousands of events would exceed it.
 */
export const MAX_SEND_BYTES = 512 * 1024;

/** A record's share of a request besides its key and value (headers, lengths, offsets, timestamps). */
const RECORD_OVERHEAD_BYTES = 64;

function sizeOf(message: Message): number {
  const bytes = (part: Message['key'] | Message['value']) =>
    part === null || part === undefined ? 0 : typeof part === 'string' ? Buffer.byteLength(part) : part.length;
  return bytes(message.key) + bytes(message.value) + RECORD_OVERHEAD_BYTES;
}

/** The messages in order, in chunks of at most `maxBytes` each (a larger message goes alone). */
export function sendChunks(messages: readonly Message[], maxBytes = MAX_SEND_BYTES): Message[][] {
  const chunks: Message[][] = [];
  let chunk: Message[] = [];
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
