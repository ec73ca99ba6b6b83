import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSchemaCatalog } from '../../../schemas/catalog.ts';
import { AvroCodec } from '../../../schemas/codec.ts';
import type { EventRecord } from '../../../schemas/records.ts';
import { ConfluentSchemaRegistry } from '../../../schemas/schema-registry.ts';
import { sampleEvent } from './samples.ts';

/**
 * An in-memory server speaking the two Schema Registry REST calls the client uses, so
 * the client's requests and its handling of the answers are checked over real HTTP.
 */
function startRegistryServer(): Promise<{ server: Server; url: string; requests: string[] }> {
  const schemas: string[] = [];
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      res.setHeader('Content-Type', 'application/vnd.schemaregistry.v1+json');
      const byId = req.url?.match(/^\/schemas\/ids\/(\d+)$/);
      if (req.method === 'POST' && req.url?.match(/^\/subjects\/[^/]+\/versions$/)) {
        const { schema } = JSON.parse(body) as { schema: string };
        let index = schemas.indexOf(schema);
        if (index === -1) index = schemas.push(schema) - 1;
        res.end(JSON.stringify({ id: 100 + index }));
      } else if (req.method === 'GET' && byId) {
        const schema = schemas[Number(byId[1]) - 100];
        res.statusCode = schema ? 200 : 404;
        res.end(JSON.stringify(schema ? { schema } : { error_code: 40403, message: 'Schema not found' }));
      } else {
        res.statusCode = 404;
        res.end(JSON.stringify({ error_code: 404, message: 'not found' }));
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, requests })),
  );
}

let registryServer: Awaited<ReturnType<typeof startRegistryServer>>;
beforeAll(async () => {
  registryServer = await startRegistryServer();
});
afterAll(() => new Promise<void>((resolve) => registryServer.server.close(() => resolve())));

describe('ConfluentSchemaRegistry', () => {
  it('registers under the record name and writes with the id the registry assigned', async () => {
    const latest = (await loadSchemaCatalog()).latest('segstream.Event');
    const writer = await AvroCodec.create<EventRecord>(new ConfluentSchemaRegistry(registryServer.url), latest.subject, latest.schema);
    expect(writer.writerId).toBe(100);
    expect(registryServer.requests[0]).toBe('POST /subjects/segstream.Event/versions application/vnd.schemaregistry.v1+json');

    // A second process with an empty cache looks the writer schema up by id.
    const reader = await AvroCodec.create<EventRecord>(new ConfluentSchemaRegistry(registryServer.url), latest.subject, latest.schema);
    expect(await reader.decode(writer.encode(sampleEvent))).toEqual({ ok: true, value: sampleEvent });
    const unknown = await new ConfluentSchemaRegistry(registryServer.url).schemaById(555);
    expect(unknown).toBeUndefined();
    expect(registryServer.requests).toContain('GET /schemas/ids/555 application/vnd.schemaregistry.v1+json');
  });
});
