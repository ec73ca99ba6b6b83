import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { HistoryThread, type HistoryThreadSettings } from '../../history/history-thread.ts';
import { packEvents } from '../../history/history-writer.ts';
import { HISTORY_MIGRATIONS } from '../../history/migrations.ts';
import { createTopicCodecs } from '../../lib/kafka/codecs.ts';
import { applyMigrations } from '../../lib/warehouse/migrations.ts';
import { loadSchemaCatalog } from '../../schemas/catalog.ts';
import { FileSchemaRegistry } from '../../schemas/schema-registry.ts';
import { buildTopics, DEFAULT_TOPIC_NAMES } from '../../schemas/topics.ts';
import { testEvent } from '../harness/test-event.ts';

const services = inject('services');
const dataDir = mkdtempSync(join(tmpdir(), 'segstream-history-thread-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const topicSettings = {
  SCHEMA_REGISTRY_URL: undefined,
  KAFKA_TOPIC_EVENTS: DEFAULT_TOPIC_NAMES.events,
  KAFKA_TOPIC_SEGMENT_CHANGES: DEFAULT_TOPIC_NAMES.segmentChanges,
  KAFKA_TOPIC_TRIGGERS: DEFAULT_TOPIC_NAMES.triggers,
  KAFKA_TOPIC_LIFECYCLE: DEFAULT_TOPIC_NAMES.lifecycle,
  KAFKA_TOPIC_DLQ: DEFAULT_TOPIC_NAMES.deadLetters,
  KAFKA_TOPIC_MEMBER_EVENTS: DEFAULT_TOPIC_NAMES.memberEvents,
  KAFKA_TOPIC_IDENTITY_CHANGES: DEFAULT_TOPIC_NAMES.identityChanges,
};
const database = `history_thread_${Date.now()}`;
const targets: [string, HistoryThreadSettings][] = [
  [
    'embedded chdb',
    {
      ...topicSettings,
      CLICKHOUSE_URL: undefined,
      CLICKHOUSE_USER: 'default',
      CLICKHOUSE_PASSWORD: undefined,
      CLICKHOUSE_DATABASE: database,
      CLICKHOUSE_PATH: dataDir,
    },
  ],
];
if (services.clickhouse) {
  const { url, user, password } = services.clickhouse;
  targets.push([
    'ClickHouse server',
    { ...topicSettings, CLICKHOUSE_URL: url, CLICKHOUSE_USER: user, CLICKHOUSE_PASSWORD: password, CLICKHOUSE_DATABASE: database, CLICKHOUSE_PATH: dataDir },
  ]);
}

describe.each(targets)('history thread: %s (needs ClickHouse)', (_name, settings) => {
  it('writes history sent as member-event records, answers queries, reports ClickHouse errors, and refuses work once closed', async () => {
    const catalog = await loadSchemaCatalog();
    const topics = buildTopics(DEFAULT_TOPIC_NAMES, catalog);
    const codec = (await createTopicCodecs(new FileSchemaRegistry(catalog), topics)).codecFor(topics.memberEvents);
    const thread = await HistoryThread.start(settings);
    try {
      expect(thread.kind).toBe(settings.CLICKHOUSE_URL ? 'server' : 'embedded');
      await applyMigrations(thread, HISTORY_MIGRATIONS);
      const order = testEvent('order-1', Date.UTC(2026, 10, 2, 9, 30), {
        userId: 'u1',
        event: 'Order Completed',
        properties: '{"order_id":"o1","total":19.99,"currency":"CNY"}',
      });
      const identify = testEvent('identify-1', Date.UTC(2026, 10, 2, 9, 0), { type: 'identify', userId: 'u1', traits: '{"phone_hash":"h"}' });
      const transition = {
        id: 'tr-1',
        memberId: 'm1',
        fromStage: 'prospect' as const,
        toStage: 'new' as const,
        at: order.timestamp,
        causeEventId: 'order-1',
        reason: 'first paid order',
      };
      await thread.write({
        events: [packEvents([codec.encode({ ...order, memberId: 'm1' }), codec.encode({ ...identify, memberId: 'm1' })])],
        identityChanges: [],
        transitions: [transition],
        segmentChanges: [],
        triggerFirings: [],
      });
      expect(await thread.query('SELECT message_id, member_id, type, order_id, toString(total) AS total, traits FROM events ORDER BY ts')).toEqual([
        { message_id: 'identify-1', member_id: 'm1', type: 'identify', order_id: '', total: '0', traits: '{"phone_hash":"h"}' },
        { message_id: 'order-1', member_id: 'm1', type: 'track', order_id: 'o1', total: '19.99', traits: '{}' },
      ]);
      expect(await thread.query('SELECT id, to_stage FROM lifecycle_transitions')).toEqual([{ id: 'tr-1', to_stage: 'new' }]);
      expect(await thread.query('SELECT order_id, toString(amount) AS amount FROM orders')).toEqual([{ order_id: 'o1', amount: '19.99' }]);
      await expect(thread.query('SELECT nope FROM events')).rejects.toThrow(/nope/);
    } finally {
      await thread.close();
    }
    await expect(thread.query('SELECT 1')).rejects.toThrow('the history thread has stopped');
  });
});

describe('history thread start', () => {
  it('fails to start with the reason when ClickHouse cannot be opened', async () => {
    const settings = {
      ...topicSettings,
      CLICKHOUSE_URL: 'http://127.0.0.1:1',
      CLICKHOUSE_USER: 'default',
      CLICKHOUSE_PASSWORD: undefined,
      CLICKHOUSE_DATABASE: database,
      CLICKHOUSE_PATH: dataDir,
    };
    await expect(HistoryThread.start(settings)).rejects.toThrow(/127\.0\.0\.1:1|ECONNREFUSED|connect/i);
  });
});
