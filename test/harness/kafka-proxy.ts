import { connect, createServer, type Server, type Socket } from 'node:net';
import type { ISocketFactory } from 'kafkajs';

/** Kafka's request header starts with api key (int16), api version (int16), correlation id (int32); a response with the correlation id. */
const PRODUCE_API_KEY = 0;

/** Splits a byte stream into Kafka frames (int32 size, then that many bytes). */
function frames(onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let pending = Buffer.alloc(0);
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
      const size = pending.readInt32BE(0);
      onFrame(pending.subarray(0, 4 + size));
      pending = pending.subarray(4 + size);
    }
  };
}

/**
 * A TCP proxy between a kafkajs client and its brokers that can lose the broker's answer
 * to a produce request: the request reaches the broker (which stores the records), and
 * the connection breaks before the response gets back, as when a network drops. The
 * client then retries what is already stored.
 *
 * Every broker connection of a client made with `socketFactory` goes through the proxy;
 * the factory sends the broker's address first, so any cluster works.
 */
export class ResponseDroppingProxy {
  /** Produce requests that went through, retries included. */
  produceRequests = 0;
  /** Produce responses lost on purpose. */
  droppedResponses = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #dropNext = false;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<ResponseDroppingProxy> {
    const server = createServer();
    const proxy = new ResponseDroppingProxy(server);
    server.on('connection', (client) => proxy.#accept(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** The broker's response to the next produce request is lost (its connection breaks instead). */
  dropNextProduceResponse(): void {
    this.#dropNext = true;
  }

  /** For `new Kafka({ socketFactory })`: connects to the proxy and names the broker it stands for. */
  readonly socketFactory: ISocketFactory = ({ host, port, onConnect }) => {
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('the proxy is not listening');
    const socket = connect({ host: '127.0.0.1', port: address.port }, onConnect);
    socket.write(`${host}:${port}\n`);
    return socket;
  };

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.#sockets.add(client);
    client.on('close', () => this.#sockets.delete(client));
    client.on('error', () => {});
    let preamble = Buffer.alloc(0);
    const readPreamble = (chunk: Buffer) => {
      preamble = Buffer.concat([preamble, chunk]);
      const end = preamble.indexOf('\n');
      if (end < 0) return;
      client.off('data', readPreamble);
      const [host, port] = preamble.subarray(0, end).toString().split(':') as [string, string];
      this.#pipe(client, connect({ host, port: Number(port) }), preamble.subarray(end + 1));
    };
    client.on('data', readPreamble);
  }

  #pipe(client: Socket, broker: Socket, firstBytes: Buffer): void {
    this.#sockets.add(broker);
    broker.on('close', () => {
      this.#sockets.delete(broker);
      client.destroy();
    });
    broker.on('error', () => {});
    client.on('close', () => broker.destroy());
    const lose = new Set<number>();
    const toBroker = frames((frame) => {
      if (frame.readInt16BE(4) === PRODUCE_API_KEY) {
        this.produceRequests++;
        if (this.#dropNext) {
          this.#dropNext = false;
          lose.add(frame.readInt32BE(8));
        }
      }
      broker.write(frame);
    });
    const toClient = frames((frame) => {
      if (lose.has(frame.readInt32BE(4))) {
        this.droppedResponses++;
        client.destroy();
        broker.destroy();
        return;
      }
      client.write(frame);
    });
    client.on('data', toBroker);
    broker.on('data', toClient);
    if (firstBytes.length > 0) toBroker(firstBytes);
  }
}
