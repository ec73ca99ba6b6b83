import avsc from 'avsc';
import { beforeAll, describe, expect, it } from 'vitest';
import { MemberEventEncoder } from '../../../processors/pipeline/member-events.ts';
import { type AvroSchema, loadSchemaCatalog, type SchemaCatalog } from '../../../schemas/catalog.ts';
import { AvroCodec } from '../../../schemas/codec.ts';
import type { EventRecord, MemberEventRecord } from '../../../schemas/records.ts';
import { FileSchemaRegistry } from '../../../schemas/schema-registry.ts';
import { allTopics, buildTopics, DEFAULT_TOPIC_NAMES } from '../../../schemas/topics.ts';
import { encodeWire } from '../../../schemas/wire-format.ts';
import { sampleDeadLetter, sampleEvent, sampleIdentityChange, sampleLifecycle, sampleMemberEvent, sampleSegmentChange, sampleTrigger } from './samples.ts';

let catalog: SchemaCatalog;
let registry: FileSchemaRegistry;

beforeAll(async () => {
  catalog = await loadSchemaCatalog();
  registry = new FileSchemaRegistry(catalog);
});

describe('AvroCodec', () => {
  it('round-trips a sample of every topic with the latest schema', async () => {
    const topics = buildTopics(DEFAULT_TOPIC_NAMES, catalog);
    const samples = [sampleEvent, sampleSegmentChange, sampleTrigger, sampleLifecycle, sampleDeadLetter, sampleMemberEvent, sampleIdentityChange];
    for (const [index, topic] of allTopics(topics).entries()) {
      const codec = await AvroCodec.create(registry, topic.subject, topic.valueSchema);
      const sample = samples[index];
      const invalid: string[] = [];
      expect(codec.isValid(sample, (path) => invalid.push(path.join('.')))).toBe(true);
      expect(invalid).toEqual([]);
      const decoded = await codec.decode(codec.encode(sample));
      expect(decoded).toEqual({ ok: true, value: sample });
    }
  });

  it('reads an Event body followed by the member id as a MemberEvent (what the processors publish without encoding again)', async () => {
    const topics = buildTopics(DEFAULT_TOPIC_NAMES, catalog);
    const events = await AvroCodec.create<EventRecord>(registry, topics.events.subject, topics.events.valueSchema);
    const memberEvents = await AvroCodec.create<MemberEventRecord>(registry, topics.memberEvents.subject, topics.memberEvents.valueSchema);
    // The MemberEvent schema is the Event schema's fields, then the member id.
    expect((memberEvents.schema as { fields: unknown[] }).fields.slice(0, -1)).toEqual((events.schema as { fields: unknown[] }).fields);
    const [message] = new MemberEventEncoder(events, memberEvents).messages([{ memberId: 'm1', event: sampleEvent, encoded: events.encode(sampleEvent) }]);
    expect(await memberEvents.decode(message?.value as Buffer)).toEqual({ ok: true, value: sampleMemberEvent });
  });

  it('writes with the id registry.json gives the latest version', async () => {
    const latest = catalog.latest('segstream.Event');
    const codec = await AvroCodec.create<EventRecord>(registry, latest.subject, latest.schema);
    expect(codec.writerId).toBe(6);
    expect(codec.encode(sampleEvent).readInt32BE(1)).toBe(6);
  });

  it('an older reader (v1) reads what the newer writer (v2) wrote, ignoring new fields', async () => {
    const [v1, v2] = catalog.history('segstream.Event') as unknown as [{ schema: AvroSchema }, { schema: AvroSchema }];
    const newerWriter = await AvroCodec.create<EventRecord>(registry, 'segstream.Event', v2.schema);
    const olderReader = await AvroCodec.create<Record<string, unknown>>(registry, 'segstream.Event', v1.schema);
    const decoded = await olderReader.decode(newerWriter.encode(sampleEvent));
    if (!decoded.ok) throw new Error(decoded.error.detail);
    const { source: _source, flags: _flags, ...v1Fields } = sampleEvent;
    expect({ ...decoded.value }).toEqual(v1Fields);
  });

  it('a newer reader (v2) reads what an older writer (v1) wrote, filling defaults', async () => {
    const [v1, v2] = catalog.history('segstream.Event') as unknown as [{ schema: AvroSchema }, { schema: AvroSchema }];
    const olderWriter = await AvroCodec.create<Record<string, unknown>>(registry, 'segstream.Event', v1.schema);
    const newerReader = await AvroCodec.create<EventRecord>(registry, 'segstream.Event', v2.schema);
    const { source: _source, flags: _flags, ...v1Fields } = sampleEvent;
    const decoded = await newerReader.decode(olderWriter.encode(v1Fields));
    expect(decoded).toEqual({ ok: true, value: { ...sampleEvent, source: '', flags: [] } });
  });

  it('gives the latest-schema body of a record: its own bytes when written with the latest schema, else decoded and written again', async () => {
    const [v1, v2] = catalog.history('segstream.Event') as unknown as [{ schema: AvroSchema }, { schema: AvroSchema }];
    const olderWriter = await AvroCodec.create<Record<string, unknown>>(registry, 'segstream.Event', v1.schema);
    const codec = await AvroCodec.create<EventRecord>(registry, 'segstream.Event', v2.schema);
    const latest = codec.encode(sampleEvent);
    const own = await codec.latestBody(latest);
    expect(own).toEqual({ ok: true, value: latest.subarray(5) });
    expect(own.ok && own.value.buffer).toBe(latest.buffer);

    const { source: _source, flags: _flags, ...v1Fields } = sampleEvent;
    const rewritten = await codec.latestBody(olderWriter.encode(v1Fields));
    expect(rewritten).toEqual({ ok: true, value: codec.encodeBody({ ...sampleEvent, source: '', flags: [] }) });
    expect((await codec.latestBody(Buffer.from('not avro'))).ok).toBe(false);
    // Without decoding: a view of the latest-schema record's own body, nothing for others.
    expect(codec.ownLatestBody(latest)).toEqual(latest.subarray(5));
    expect(codec.ownLatestBody(olderWriter.encode(v1Fields))).toBeUndefined();
    expect(codec.ownLatestBody(Buffer.from('not avro'))).toBeUndefined();
  });

  it('reports unknown schema ids, foreign bytes and corrupt bodies as failures, not exceptions', async () => {
    const latest = catalog.latest('segstream.Event');
    const codec = await AvroCodec.create<EventRecord>(registry, latest.subject, latest.schema);
    expect(await codec.decode(encodeWire(999, Buffer.from([1])))).toEqual({
      ok: false,
      error: { reason: 'unknown_schema_id', detail: 'schema id 999 is not in the file schema registry', schemaId: 999 },
    });
    expect((await codec.decode(Buffer.from('{"type":"track"}'))).ok).toBe(false);
    const truncated = codec.encode(sampleEvent).subarray(0, 20);
    const result = await codec.decode(truncated);
    expect(result.ok ? null : result.error.reason).toBe('undecodable');
  });

  it('refuses to read a registered schema of another record as this one', async () => {
    const latest = catalog.latest('segstream.Event');
    const codec = await AvroCodec.create<EventRecord>(registry, latest.subject, latest.schema);
    const dlq = catalog.latest('segstream.DeadLetter');
    const foreign = encodeWire(dlq.id, avsc.Type.forSchema(dlq.schema).toBuffer(sampleDeadLetter));
    const result = await codec.decode(foreign);
    expect(result.ok ? null : result.error.reason).toBe('incompatible_schema');
  });

  it('refuses to encode a schema that is not registered', async () => {
    const unregistered = { type: 'record', name: 'Event', namespace: 'segstream', fields: [{ name: 'x', type: 'int' }] } as AvroSchema;
    await expect(AvroCodec.create(registry, 'segstream.Event', unregistered)).rejects.toThrow(/not in schemas\/registry.json/);
  });
});
