/**
 * The Redis protocol (RESP2), both ways, with no I/O: commands encoded straight into one
 * buffer, replies read from the bytes as they arrive.
 */

export type RedisArg = string | number | Buffer;
export type RedisCommand = readonly RedisArg[];

/** An error reply of Redis (e.g. "NOSCRIPT ...", "WRONGTYPE ..."), for one command. */
export class RedisReplyError extends Error {
  override readonly name = 'RedisReplyError';
}

/** A reply: an error reply is a RedisReplyError (a pipeline goes on past it), never thrown. */
export type RedisReply = string | number | null | RedisReplyError | RedisReply[];

/** A number that is not a safe integer, as JavaScript prints it; safe integers are written digit by digit. */
function numberText(value: number): string | undefined {
  return Number.isSafeInteger(value) ? undefined : String(value);
}

function digitCount(value: number): number {
  let digits = value < 0 ? 2 : 1;
  for (let rest = Math.abs(value); rest >= 10; rest = Math.floor(rest / 10)) digits++;
  return digits;
}

/** Writes a safe integer in decimal at `at`; returns the new offset. */
function writeInteger(out: Buffer, at: number, value: number): number {
  let position = at;
  if (value < 0) out[position++] = 45; // -
  const digits = digitCount(Math.abs(value));
  let rest = Math.abs(value);
  for (let i = digits - 1; i >= 0; i--) {
    out[position + i] = 48 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
  return position + digits;
}

/** A header line: `*` or `$`, the number, CRLF. */
function writeHeader(out: Buffer, at: number, marker: number, value: number): number {
  out[at] = marker;
  const end = writeInteger(out, at + 1, value);
  out[end] = 13;
  out[end + 1] = 10;
  return end + 2;
}

/** Commands as Redis reads them (arrays of bulk strings), in one buffer, with no string built on the way. */
export function encodeCommands(commands: readonly RedisCommand[]): Buffer {
  // Each string is measured, then written once.
  const lengths: number[] = [];
  let size = 0;
  for (const command of commands) {
    size += 16;
    for (const arg of command) {
      const length = typeof arg === 'string' ? Buffer.byteLength(arg) : typeof arg === 'number' ? (numberText(arg)?.length ?? digitCount(arg)) : arg.length;
      lengths.push(length);
      size += length + 16;
    }
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  let n = 0;
  for (const command of commands) {
    at = writeHeader(out, at, 42, command.length);
    for (const arg of command) {
      at = writeHeader(out, at, 36, lengths[n++] as number);
      if (typeof arg === 'string') at += out.write(arg, at, 'utf8');
      else if (typeof arg === 'number') {
        const text = numberText(arg);
        at = text === undefined ? writeInteger(out, at, arg) : at + out.write(text, at, 'latin1');
      } else at += arg.copy(out, at);
      out[at++] = 13;
      out[at++] = 10;
    }
  }
  return out.subarray(0, at);
}

const INCOMPLETE = Symbol('incomplete');

/**
 * Reads replies from the bytes of a connection, whatever the chunks. A reply split
 * across chunks is read again from its start once more bytes came: replies here are
 * small next to the chunks, so that costs little.
 */
export class RespReader {
  #buffer: Buffer = Buffer.alloc(0);
  #at = 0;
  /** Bytes received while a reply was incomplete, joined only once enough arrived. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #needed = 0;

  /** Takes the next bytes; returns every reply they complete, in order. */
  feed(chunk: Buffer): RedisReply[] {
    if (this.#pending.length > 0 || this.#at < this.#buffer.length) {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
      if (this.#buffer.length - this.#at + this.#pendingBytes < this.#needed) return [];
      this.#buffer = Buffer.concat([this.#buffer.subarray(this.#at), ...this.#pending]);
      this.#pending = [];
      this.#pendingBytes = 0;
    } else {
      this.#buffer = chunk;
    }
    this.#at = 0;
    this.#needed = 0;
    const replies: RedisReply[] = [];
    while (this.#at < this.#buffer.length) {
      const start = this.#at;
      const reply = this.#read();
      if (reply === INCOMPLETE) {
        this.#at = start;
        break;
      }
      replies.push(reply);
    }
    if (this.#at >= this.#buffer.length) {
      this.#buffer = Buffer.alloc(0);
      this.#at = 0;
    }
    return replies;
  }

  /** Forgets partial input (the connection it came from is gone). */
  reset(): void {
    this.#buffer = Buffer.alloc(0);
    this.#at = 0;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#needed = 0;
  }

  #line(): string | typeof INCOMPLETE {
    const end = this.#buffer.indexOf(13, this.#at);
    if (end < 0 || end + 1 >= this.#buffer.length) {
      this.#needed = this.#buffer.length - this.#at + 1;
      return INCOMPLETE;
    }
    const line = this.#buffer.toString('latin1', this.#at, end);
    this.#at = end + 2;
    return line;
  }

  #read(): RedisReply | typeof INCOMPLETE {
    const start = this.#at;
    if (start >= this.#buffer.length) return INCOMPLETE;
    const type = this.#buffer[start];
    this.#at++;
    if (type === 36 /* $ */) {
      const header = this.#line();
      if (header === INCOMPLETE) return INCOMPLETE;
      const length = Number(header);
      if (length < 0) return null;
      if (this.#at + length + 2 > this.#buffer.length) {
        this.#needed = this.#at + length + 2 - start;
        return INCOMPLETE;
      }
      const value = this.#buffer.toString('utf8', this.#at, this.#at + length);
      this.#at += length + 2;
      return value;
    }
    const line = this.#line();
    if (line === INCOMPLETE) return INCOMPLETE;
    switch (type) {
      case 43 /* + */:
        return line;
      case 45 /* - */:
        return new RedisReplyError(line);
      case 58 /* : */:
        return Number(line);
      case 42 /* * */:
        {
          const count = Number(line);
          if (count < 0) return null;
          const items: RedisReply[] = [];
          for (let i = 0; i < count; i++) {
            const item = this.#read();
            if (item === INCOMPLETE) return INCOMPLETE;
            items.push(item);
          }
          return items;
        }
      default:
        throw new Error(`not a Redis reply: type byte ${type} at offset ${start}`);
    }
  }
}
