import { createHash } from 'node:crypto';
import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { encodeCommands, type RedisCommand, type RedisReply, RedisReplyError, RespReader } from './resp.ts';

interface Waiting {
  remaining: number;
  readonly replies: RedisReply[];
  readonly resolve: (replies: RedisReply[]) => void;
  readonly reject: (error: Error) => void;
}

/**
 * A Redis connection for the processor's hot path: a batch of commands goes out as one
 * buffer and comes back as one array of replies, with no object, promise or string
 * building per command (a general client's per-command cost was a fifth of the
 * processor's main thread). Connects on first use and again after the connection is
 * lost; commands in flight then fail, and the caller applies its batch again.
 * For redis:// and rediss:// URLs with optional user, password and database number.
 */
export class RedisPipelineClient {
  readonly #url: URL;
  readonly #connectTimeoutMs: number;
  readonly #reader = new RespReader();
  readonly #scripts = new Map<string, string>();
  #waiting: Waiting[] = [];
  #socket: Socket | undefined;
  #ready: Socket | undefined;
  #connecting: Promise<Socket> | undefined;
  #closed = false;
  /** The socket whose writes are held until the end of this tick, to go out together. */
  #corked: Socket | undefined;

  readonly #tlsCa: string | Buffer | undefined;

  /** `tlsCa`: the certificate authorities to trust for rediss:// instead of Node's own (without it, NODE_EXTRA_CA_CERTS adds to those). */
  constructor(url: string, options: { connectTimeoutMs?: number; tlsCa?: string | Buffer } = {}) {
    this.#url = new URL(url);
    this.#tlsCa = options.tlsCa;
    if (this.#url.protocol !== 'redis:' && this.#url.protocol !== 'rediss:')
      throw new Error(`Redis URL must start with redis:// or rediss://; received ${this.#url.protocol}//`);
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  }

  /** Registers a Lua script; returns the SHA1 to call it with EVALSHA (loaded again whenever Redis lost it). */
  script(lua: string): string {
    const sha = createHash('sha1').update(lua).digest('hex');
    this.#scripts.set(sha, lua);
    return sha;
  }

  /**
   * Runs the commands in one round trip. Replies come in order, an error reply in its
   * command's place. An EVALSHA of a script Redis lost (NOSCRIPT: it did not run) is run
   * again after loading it, so later commands of the batch ran before it.
   */
  async exec(commands: readonly RedisCommand[]): Promise<RedisReply[]> {
    if (commands.length === 0) return [];
    const replies = await this.#send(commands);
    // NOSCRIPT: Redis restarted or flushed its scripts, and the command did not run.
    const missing: number[] = [];
    replies.forEach((reply, i) => {
      if (reply instanceof RedisReplyError && reply.message.startsWith('NOSCRIPT') && this.#scripts.has(String(commands[i]?.[1]))) missing.push(i);
    });
    if (missing.length === 0) return replies;
    const shas = [...new Set(missing.map((i) => String(commands[i]?.[1])))];
    const again = await this.#send([
      ...shas.map((sha) => ['SCRIPT', 'LOAD', this.#scripts.get(sha) as string]),
      ...missing.map((i) => commands[i] as RedisCommand),
    ]);
    const loadError = again.slice(0, shas.length).find((reply) => reply instanceof RedisReplyError);
    if (loadError) throw loadError;
    missing.forEach((index, k) => {
      replies[index] = again[shas.length + k] as RedisReply;
    });
    return replies;
  }

  /** Runs the commands in one round trip (as exec); the first error reply, if any, is thrown once all have run. */
  async execOrThrow(commands: readonly RedisCommand[]): Promise<RedisReply[]> {
    const replies = await this.exec(commands);
    const failed = replies.find((reply) => reply instanceof Error);
    if (failed) throw failed;
    return replies;
  }

  /** Runs one command; an error reply is thrown. */
  async call(...command: RedisCommand): Promise<RedisReply> {
    return (await this.execOrThrow([command]))[0] as RedisReply;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const socket = this.#socket;
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.ref();
      socket.end();
      setTimeout(() => socket.destroy(), 1_000).unref();
    });
  }

  async #send(commands: readonly RedisCommand[]): Promise<RedisReply[]> {
    const payload = encodeCommands(commands);
    const socket = await this.#connected();
    return this.#write(socket, payload, commands.length);
  }

  #write(socket: Socket, payload: Buffer, count: number): Promise<RedisReply[]> {
    return new Promise((resolve, reject) => {
      if (socket.destroyed || socket !== this.#socket) {
        reject(new Error(`the connection to Redis at ${this.#where()} was lost`));
        return;
      }
      this.#waiting.push({ remaining: count, replies: [], resolve, reject });
      // Held open only while replies are awaited: an idle connection does not keep the process alive.
      socket.ref();
      // Batches sent in the same tick (concurrent units, a unit's independent writes) leave in one
      // write: on loopback a write costs the kernel's delivery to Redis, tens of µs here.
      if (this.#corked !== socket) {
        this.#corked = socket;
        socket.cork();
        process.nextTick(() => {
          if (this.#corked === socket) this.#corked = undefined;
          socket.uncork();
        });
      }
      socket.write(payload);
    });
  }

  #connected(): Promise<Socket> {
    if (this.#closed) return Promise.reject(new Error('the Redis connection is closed'));
    if (this.#ready && !this.#ready.destroyed) return Promise.resolve(this.#ready);
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  #where(): string {
    return `${this.#url.hostname}:${this.#url.port || 6379}`;
  }

  async #open(): Promise<Socket> {
    const host = this.#url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(this.#url.port || 6379);
    // TLS names a server by host name only (SNI), never by address.
    const socket =
      this.#url.protocol === 'rediss:'
        ? connectTls({ host, port, servername: isIP(host) ? undefined : host, ...(this.#tlsCa ? { ca: this.#tlsCa } : {}) })
        : connectTcp({ host, port });
    socket.setNoDelay(true);
    this.#socket = socket;
    this.#ready = undefined;
    this.#reader.reset();
    let failure: Error | undefined;
    socket.on('data', (chunk: Buffer) => this.#received(socket, chunk));
    socket.on('error', (error) => {
      failure = error;
    });
    socket.on('close', () => this.#lost(socket, failure));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => socket.destroy(new Error(`timed out after ${this.#connectTimeoutMs} ms`)), this.#connectTimeoutMs);
      socket.once(this.#url.protocol === 'rediss:' ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('close', () => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to Redis at ${this.#where()}: ${failure?.message ?? 'connection closed'}`));
      });
    });
    const handshake: RedisCommand[] = [];
    const user = decodeURIComponent(this.#url.username);
    const password = decodeURIComponent(this.#url.password);
    if (password) handshake.push(user ? ['AUTH', user, password] : ['AUTH', password]);
    const database = this.#url.pathname.replace(/^\//, '');
    if (database) handshake.push(['SELECT', database]);
    if (handshake.length > 0) {
      const replies = await this.#write(socket, encodeCommands(handshake), handshake.length);
      const refused = replies.find((reply) => reply instanceof Error);
      if (refused) {
        socket.destroy();
        throw new Error(`Redis at ${this.#where()} refused the connection: ${(refused as Error).message}`);
      }
    }
    this.#ready = socket;
    if (this.#waiting.length === 0) socket.unref();
    return socket;
  }

  #received(socket: Socket, chunk: Buffer): void {
    if (socket !== this.#socket) return;
    let replies: RedisReply[];
    try {
      replies = this.#reader.feed(chunk);
    } catch (error) {
      socket.destroy(error as Error);
      return;
    }
    for (const reply of replies) {
      const waiting = this.#waiting[0];
      if (!waiting) {
        socket.destroy(new Error('Redis sent a reply nobody asked for'));
        return;
      }
      waiting.replies.push(reply);
      if (--waiting.remaining === 0) {
        this.#waiting.shift();
        waiting.resolve(waiting.replies);
      }
    }
    if (this.#waiting.length === 0) socket.unref();
  }

  #lost(socket: Socket, cause: Error | undefined): void {
    if (socket !== this.#socket) return;
    this.#socket = undefined;
    this.#ready = undefined;
    this.#reader.reset();
    const waiting = this.#waiting;
    this.#waiting = [];
    const error = new Error(`the connection to Redis at ${this.#where()} was lost${cause ? `: ${cause.message}` : ''}`);
    for (const w of waiting) w.reject(error);
  }
}
