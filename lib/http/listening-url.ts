import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';

/** Where a listening server can be reached (IPv6 addresses in brackets). */
export function listeningUrl(server: FastifyInstance): string {
  const address = server.server.address() as AddressInfo;
  return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}
