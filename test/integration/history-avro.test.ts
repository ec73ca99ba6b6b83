import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AvroEventWriter, EVENT_COLUMNS_FROM_AVRO } from '../../history/events-avro.ts';
import { eventRow, packEvents } from '../../history/history-writer.ts';
import { HISTORY_MIGRATIONS } from '../../history/migrations.ts';
import { EmbeddedWarehouse } from '../../lib/warehouse/embedded.ts';
import { applyMigrations } from '../../lib/warehouse/migrations.ts';
import { type AppliedEvent, MemberEventEncoder } from '../../processors/pipeline/member-events.ts';
import { type AvroSchema, loadSchemaCatalog } from '../../schemas/catalog.ts';
import { AvroCodec } from '../../schemas/codec.ts';
import type { EventRecord, MemberEventRecord } from '../../schemas/records.ts';
import { FileSchemaRegistry } from '../../schemas/schema-registry.ts';
import { testEvent } from '../harness/test-event.ts';

/*
 * Embedded ClickHouse takes member events as Avro (as the processors encode them and the
 * history service reads them from Kafka) and computes the derived columns in SQL; a server
 * takes rows built by eventRow in JavaScript. Both must store the same rows.
 */

const AT = Date.UTC(2026, 10, 3, 9, 15, 42, 123);
// An integer beyond 64 bits only as a total, which is 0 either way: ClickHouse's JSON reader refuses such a document (see EVENT_COLUMNS_FROM_AVRO).
const PROPERTIES: unknown[] = [
  {},
  { order_id: 'o-1', total: 12.5, currency: 'CNY' },
  { order_id: 12345, total: 1.005 },
  { order_id: 1.5, revenue: 2.675 },
  { total: '12', revenue: 3.335 },
  { total: -1.005, currency: 7 },
  { total: -2.5 },
  { total: 0.29 },
  { total: 1e15 },
  { total: 9.99e14 + 0.125 },
  { total: 123456789.125 },
  { total: 1e-7 },
  { total: 2 ** 64 },
  { order_id: true, currency: null, total: null, revenue: 7 },
  { order_id: 'tab\there\nnew "quote" \\ ü 中文 😀' },
  { order_id: { nested: 1 } },
  { order_id: [1] },
  { order_id: 1e21, currency: 1.7976931348623157e308 },
  { order_id: 0.30000000000000004 },
  { order_id: -0 },
  { order_id: 1e-7 },
  { order_id: 2 ** 53 + 2 },
  { order_id: '007' },
  [1, 2],
];
const CONTEXTS = [
  '{}',
  '{"campaign":{"source":"wechat","medium":3,"name":"双11 sale"}}',
  '{"campaign":"spring"}',
  '{"campaign":{"source":null,"name":["a"]}}',
  '{"campaign":{"source":"a\\tb\\nc","medium":"e-mail"}}',
  'not json',
];

function workload(prefix: string): EventRecord[] {
  const events: EventRecord[] = [];
  PROPERTIES.forEach((properties, p) => {
    CONTEXTS.forEach((context, c) => {
      events.push(
        testEvent(`${prefix}-${p}-${c}`, AT + p * 1_000 + c, {
          event: p % 2 ? 'Order Completed' : 'Order Refunded',
          anonymousId: `anon-${p}`,
          userId: c % 2 ? `user-${c}` : null,
          properties: typeof properties === 'string' ? properties : JSON.stringify(properties),
          context,
        }),
      );
    });
  });
  events.push(testEvent(`${prefix}-page`, AT, { type: 'page', name: 'Home', anonymousId: 'anon-page', properties: 'not json', traits: '{"a":"\\t"}' }));
  events.push(testEvent(`${prefix}-identify`, AT - 1, { type: 'identify', userId: 'user-i', traits: '{"email_hash":"abc"}', source: 'ios' }));
  return events;
}

let warehouse: EmbeddedWarehouse;
let codec: AvroCodec<EventRecord>;
let memberEvents: AvroCodec<MemberEventRecord>;
let olderWriter: AvroCodec<Record<string, unknown>>;
beforeAll(async () => {
  warehouse = await EmbeddedWarehouse.open(mkdtempSync(join(tmpdir(), 'segstream-avro-')), 'history');
  await applyMigrations(warehouse, HISTORY_MIGRATIONS);
  const catalog = await loadSchemaCatalog();
  const registry = new FileSchemaRegistry(catalog);
  const [v1, v2] = catalog.history('segstream.Event') as unknown as [{ schema: AvroSchema }, { schema: AvroSchema }];
  codec = await AvroCodec.create<EventRecord>(registry, 'segstream.Event', v2.schema);
  olderWriter = await AvroCodec.create(registry, 'segstream.Event', v1.schema);
  memberEvents = await AvroCodec.create<MemberEventRecord>(registry, 'segstream.MemberEvent', catalog.latest('segstream.MemberEvent').schema);
}, 60_000);
afterAll(() => warehouse.close());

const stored = async (table: string, prefix: string) =>
  (
    await warehouse.query<Record<string, unknown>>(`SELECT * FROM ${table} FINAL WHERE startsWith(message_id, {prefix:String}) ORDER BY message_id`, { prefix })
  ).map((row) => ({ ...row, message_id: String(row.message_id).slice(prefix.length) }));

describe('events written as Avro (needs embedded ClickHouse)', () => {
  it('computes the same columns as eventRow', () => {
    expect(EVENT_COLUMNS_FROM_AVRO.map(([column]) => column)).toEqual(Object.keys(eventRow('m', testEvent('x', AT))));
  });

  it('stores every event exactly as the row eventRow builds: bytes as read with the member appended, events the processor changed, and events of an older schema', async () => {
    const member = (e: EventRecord) => `member-of-${e.anonymousId ?? e.userId}`;
    // The older schema has no source: the event as the latest schema reads it has source ''.
    const [first, ...rest] = workload('rows');
    const asRead = { ...(first as EventRecord), source: '' };
    await warehouse.insert(
      'events',
      [asRead, ...rest].map((e) => eventRow(member(e), e)),
    );

    const [oldest, ...others] = workload('avro');
    const { source: _source, flags: _flags, ...v1Fields } = oldest as EventRecord;
    const applied: AppliedEvent[] = [
      // As the processor holds it: decoded from the older schema (no source), with the bytes it came in.
      { memberId: member(oldest as EventRecord), event: { ...(oldest as EventRecord), source: '' }, encoded: olderWriter.encode(v1Fields) },
      ...others.map((e, i) => ({ memberId: member(e), event: e, encoded: i % 3 === 0 ? null : codec.encode(e) })),
    ];
    // The records the processors publish, in two batches as the history service holds them.
    const records = new MemberEventEncoder(codec, memberEvents).messages(applied).map((m) => m.value as Buffer);
    await new AvroEventWriter(warehouse, memberEvents).write([packEvents(records.slice(0, 50)), packEvents(records.slice(50))]);

    const rows = await stored('events', 'rows');
    expect(rows).toHaveLength(PROPERTIES.length * CONTEXTS.length + 2);
    expect(await stored('events', 'avro')).toEqual(rows);
    // The orders view reads the computed columns too.
    const orders = await stored('orders', 'rows');
    expect(orders.length).toBeGreaterThan(100);
    expect(await stored('orders', 'avro')).toEqual(orders);
  });

  it('writes nothing for a batch without events, and refuses a schema whose last field is not the member id', async () => {
    await new AvroEventWriter(warehouse, memberEvents).write([]);
    await new AvroEventWriter(warehouse, memberEvents).write([packEvents([])]);
    const events = { schema: codec.schema, subject: 'segstream.Event' } as unknown as AvroCodec<MemberEventRecord>;
    expect(() => new AvroEventWriter(warehouse, events)).toThrow(/last field is memberId/);
  });
});
