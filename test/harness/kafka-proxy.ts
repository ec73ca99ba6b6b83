import { connect, createServer, type Server, type Socket } from 'node:net';

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
 * A TCP proxy in front of one Kafka broker that can lose the broker's answer to a
 * produce request: the request reaches the broker (which stores the records), and the
 * connection breaks before the response gets back, as when a network drops. The client
 * then retries what is already stored.
 *
 * The broker advertises the proxy's port (LocalKafka's `proxied` option), so every
 * connection a client makes to it goes through the proxy.
 */
export class ResponseDroppingProxy {
  /** Produce requests that went through, retries included. */
  produceRequests = 0;
  /** Produce responses lost on purpose. */
  droppedResponses = 0;
  /** The port clients connect to. */
  readonly port: number;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #dropNext = false;

  private constructor(server: Server, port: number) {
    this.#server = server;
    this.port = port;
  }

  /** A proxy on a free loopback port for the broker that will listen on `brokerPort`. */
  static async start(brokerPort: number): Promise<ResponseDroppingProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('the proxy is not listening on a TCP port');
    const proxy = new ResponseDroppingProxy(server, address.port);
    server.on('connection', (client) => proxy.#pipe(client, connect({ host: '127.0.0.1', port: brokerPort })));
    return proxy;
  }

  /** The broker's response to the next produce request is lost (its connection breaks instead). */
  dropNextProduceResponse(): void {
    this.#dropNext = true;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #pipe(client: Socket, broker: Socket): void {
    for (const socket of [client, broker]) {
      this.#sockets.add(socket);
      socket.on('error', () => {});
    }
    client.on('close', () => {
      this.#sockets.delete(client);
      broker.destroy();
    });
    broker.on('close', () => {
      this.#sockets.delete(broker);
      client.destroy();
    });
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
  }
}
