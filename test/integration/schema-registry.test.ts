import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKafka } from '../../lib/kafka/client.ts';
import { loadTopicSetup, type TopicSetup } from '../../lib/kafka/codecs.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRedis } from '../../lib/redis.ts';
import { RuleStore, type StoredRule } from '../../lib/rule-store/rule-store.ts';
import { loadSchemaCatalog, type SchemaCatalog } from '../../schemas/catalog.ts';
import { ConfluentSchemaRegistry, registerCatalog } from '../../schemas/schema-registry.ts';
import { allTopics, type Topic } from '../../schemas/topics.ts';
import { LocalSchemaRegistry } from '../../scripts/stack/local-schema-registry.ts';
import { ensureTopics } from '../../scripts/stack/topics.ts';
import { type RunningIngest, startIngest } from '../harness/ingest.ts';
import { startProcessor } from '../harness/processor-service.ts';
import { type PythonRecord, readWithPython } from '../harness/python-avro-consumer.ts';
import { highWatermarks } from '../harness/read-range.ts';
import { until } from '../harness/until.ts';

/*
 * A real Schema Registry (Apicurio Registry, Confluent-compatible API, as `stack up` starts
 * with SCHEMA_REGISTRY=local): ingest and the processors register and resolve their schemas
 * through it, and a consumer outside Node (Confluent's Python client, librdkafka, with its
 * AvroDeserializer) reads every topic they write through the same registry.
 */
const services = inject('services');
const run = Date.now();
const names = {
  KAFKA_TOPIC_EVENTS: `segstream.test.sr-events-${run}`,
  KAFKA_TOPIC_SEGMENT_CHANGES: `segstream.test.sr-segment-changes-${run}`,
  KAFKA_TOPIC_TRIGGERS: `segstream.test.sr-triggers-${run}`,
  KAFKA_TOPIC_LIFECYCLE: `segstream.test.sr-lifecycle-${run}`,
  KAFKA_TOPIC_DLQ: `segstream.test.sr-dlq-${run}`,
  KAFKA_TOPIC_MEMBER_EVENTS: `segstream.test.sr-member-events-${run}`,
  KAFKA_TOPIC_IDENTITY_CHANGES: `segstream.test.sr-identity-changes-${run}`,
};
const prefix = `sr${run}:`;
const logger = createLogger({ service: 'schema-registry-test', level: 'fatal' });
const kafka = createKafka({ brokers: services.kafkaBrokers, clientId: 'schema-registry-test' }, logger);
const redis = createRedis(services.redisUrl);
let registry: LocalSchemaRegistry;
let catalog: SchemaCatalog;
/** The registry's id of each schema, by its id in schemas/registry.json. */
let ids: Map<number, number>;
let ingest: RunningIngest | undefined;
let processor: Awaited<ReturnType<typeof startProcessor>> | undefined;

beforeAll(async () => {
  registry = await LocalSchemaRegistry.start({ dir: resolve('.segstream/test/schema-registry') });
  console.log(`[schema-registry] Apicurio Registry ${registry.version} started in ${registry.startedInMs} ms at ${registry.url}`);
  catalog = await loadSchemaCatalog();
  await ensureTopics(services.kafkaBrokers, Object.values(names), { partitions: 2, replicationFactor: -1 });
});
afterAll(async () => {
  await ingest?.stop();
  await processor?.service.lifecycle.stop();
  await redis.quit();
  await registry?.stop();
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: Object.values(names) }).catch(() => {});
  await admin.disconnect();
});

const auth = { authorization: `Basic ${Buffer.from('wk_web:').toString('base64')}`, 'content-type': 'application/json' };

/** A value as the Python consumer prints it: bytes as { base64 }. */
function plain(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { base64: value.toString('base64') };
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

/** JSON with every object's keys sorted, so equal values compare equal as text. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, canonical(v)]),
    );
  return value;
}

/**
 * Every record of the topic up to its ends now, by "partition/offset", decoded with the
 * service codecs; a record that does not decode is left out (the Python consumer must fail
 * on it too).
 */
async function readDecoded(topic: Topic<unknown>, setup: TopicSetup): Promise<Map<string, unknown>> {
  const ends = await highWatermarks(kafka, topic.name);
  const remaining = new Map([...ends].filter(([, high]) => high > 0n));
  const codec = setup.codecs.codecFor(topic);
  const out = new Map<string, unknown>();
  const seen = new Set<string>();
  const consumer = kafka.consumer({ groupId: `sr-read-${run}-${topic.name}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: topic.name, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const high = remaining.get(partition);
        if (high === undefined || BigInt(message.offset) >= high) return;
        const where = `${partition}/${message.offset}`;
        seen.add(where);
        const decoded = await codec.decode(message.value);
        if (decoded.ok) out.set(where, plain(decoded.value));
        if (BigInt(message.offset) + 1n >= high) remaining.delete(partition);
      },
    });
    await until(`${topic.name} read to its end`, async () => (remaining.size === 0 ? true : undefined), 30_000, 20);
  } finally {
    await consumer.disconnect();
  }
  // The undecodable ones are there as keys without a value.
  for (const where of seen) if (!out.has(where)) out.set(where, undefined);
  return out;
}

async function total(topic: string): Promise<number> {
  return [...(await highWatermarks(kafka, topic)).values()].reduce((sum, high) => sum + Number(high), 0);
}

describe('a real Schema Registry (needs Java for Apicurio Registry, Python 3 for the consumer outside Node)', () => {
  it("holds the repository's schemas with compatibility FULL_TRANSITIVE, numbers them itself, and refuses an incompatible version", async () => {
    const client = new ConfluentSchemaRegistry(registry.url);
    // Something registered before: the registry's ids are then not the files' ids, so the
    // records below can only be read through the registry.
    const other = await client.idFor('segstream.test.Other', { type: 'record', name: 'Other', namespace: 'segstream.test', fields: [] });
    ids = await registerCatalog(client, catalog);
    expect(other).toBe(1);
    expect([...ids]).toEqual(catalog.versions.map((v) => [v.id, v.id + 1]).sort((a, b) => (a[0] as number) - (b[0] as number)));
    // Registering again changes nothing.
    expect(await registerCatalog(client, catalog)).toEqual(ids);

    for (const subject of new Set(catalog.versions.map((v) => v.subject))) {
      const config = (await (await fetch(`${registry.url}/config/${subject}`)).json()) as { compatibilityLevel: string };
      expect(config.compatibilityLevel, subject).toBe('FULL_TRANSITIVE');
    }
    // A new version with a field that has no default cannot read (or be read by) the old ones.
    const latest = catalog.latest('segstream.SegmentChange');
    const breaking = { ...(latest.schema as object), fields: [...(latest.schema as { fields: object[] }).fields, { name: 'campaign', type: 'string' }] };
    await expect(client.idFor(latest.subject, breaking as typeof latest.schema)).rejects.toThrow(/HTTP 409/);
    // The "{}" defaults of the JSON-text fields come back as they were (docs/design.md: Apicurio).
    const event = await new ConfluentSchemaRegistry(registry.url).schemaById(ids.get(catalog.latest('segstream.Event').id) as number);
    expect(event).toEqual(catalog.latest('segstream.Event').schema);
  });

  it('ingest and the processors register and resolve through it; a Python consumer reads every topic through it and sees what Node reads', async () => {
    const rules = new RuleStore(redis, prefix);
    const rule = (spec: Partial<StoredRule> & { id: string; kind: StoredRule['kind'] }) =>
      rules.write(
        spec.id,
        0,
        { name: spec.id, description: '', condition: true, active: true, updatedAt: 0, updatedBy: 'test', ...spec },
        { actor: 'test', action: 'create', before: null, at: 0 },
      );
    await rule({ id: 'buyers', kind: 'segment', condition: { '>=': [{ var: 'orders.count' }, 1] } });
    await rule({ id: 'thank_you', kind: 'trigger', on: { event: 'Order Completed' }, businessLine: 'default', controls: {} });

    const registryEnv = { SCHEMA_REGISTRY_URL: registry.url };
    processor = await startProcessor(services.kafkaBrokers, services.redisUrl, {
      ...names,
      ...registryEnv,
      REDIS_KEY_PREFIX: prefix,
      PROCESSOR_GROUP_ID: `sr-${run}`,
    });
    ingest = await startIngest(services.kafkaBrokers, { KAFKA_TOPIC_EVENTS: names.KAFKA_TOPIC_EVENTS, ...registryEnv });

    const buyers = [1, 2, 3].map((i) => `sr-buyer-${run}-${i}`);
    const batch = [
      ...buyers.flatMap((userId, i) => [
        { type: 'identify', messageId: `${userId}-id`, userId, traits: { plan: 'gold' } },
        {
          type: 'track',
          messageId: `${userId}-order`,
          userId,
          event: 'Order Completed',
          properties: { order_id: `o-${i}`, total: 10 + i, currency: 'EUR' },
        },
      ]),
      { type: 'page', messageId: `sr-visitor-${run}-page`, anonymousId: `sr-visitor-${run}`, name: 'Home' },
    ];
    const response = await fetch(`${ingest.url}/v1/batch`, { method: 'POST', headers: auth, body: JSON.stringify({ batch }) });
    expect(response.status).toBe(200);
    // A record that is not Avro, for the dead-letter topic.
    const raw = kafka.producer();
    await raw.connect();
    await raw.send({ topic: names.KAFKA_TOPIC_EVENTS, acks: -1, messages: [{ key: 'poison', value: 'not avro' }] });
    await raw.disconnect();

    await until(
      'the processor wrote segment changes, trigger firings, lifecycle transitions and a dead letter',
      async () => {
        const [changes, firings, transitions, dead] = await Promise.all(
          [names.KAFKA_TOPIC_SEGMENT_CHANGES, names.KAFKA_TOPIC_TRIGGERS, names.KAFKA_TOPIC_LIFECYCLE, names.KAFKA_TOPIC_DLQ].map(total),
        );
        // Each buyer: prospect, then new; the visitor: prospect.
        return changes === 3 && firings === 3 && transitions === 7 && dead === 1 ? true : undefined;
      },
      60_000,
    );

    // Node reads each topic through the registry (as the services do), up to the ends it has now...
    const setup: TopicSetup = await loadTopicSetup({ ...names, SCHEMA_REGISTRY_URL: registry.url });
    const fromNode = new Map<string, Map<string, unknown>>();
    for (const topic of allTopics(setup.topics) as Topic<unknown>[]) fromNode.set(topic.name, await readDecoded(topic, setup));
    // ... and so does the Python consumer, which knows nothing but the brokers and the registry.
    const fromPython = new Map<string, Map<string, PythonRecord>>();
    for (const record of await readWithPython(services.kafkaBrokers, registry.url, Object.values(names))) {
      const where = `${record.partition}/${record.offset}`;
      if (!fromNode.get(record.topic)?.has(where)) continue; // written after Node read the topic
      fromPython.set(record.topic, (fromPython.get(record.topic) ?? new Map()).set(where, record));
    }

    for (const topic of allTopics(setup.topics)) {
      const node = fromNode.get(topic.name) as Map<string, unknown>;
      const python = fromPython.get(topic.name) ?? new Map<string, PythonRecord>();
      expect([...python.keys()].sort(), topic.name).toEqual([...node.keys()].sort());
      // Written with the schema id the registry gave the subject's latest version, not the file's.
      const expectedId = ids.get(catalog.latest(topic.subject).id);
      for (const [where, record] of python) {
        const mine = node.get(where);
        if (mine === undefined) expect(record, `${topic.name} ${where}`).toMatchObject({ error: expect.stringContaining('') });
        else {
          expect(record.schemaId, `${topic.name} ${where}`).toBe(expectedId);
          expect(canonical(record.value), `${topic.name} ${where}`).toEqual(canonical(mine));
        }
      }
    }
    const values = (name: string) => [...(fromPython.get(name)?.values() ?? [])].flatMap((r) => (r.value ? [r.value] : [])) as Record<string, unknown>[];
    // Seven events went in through ingest and one record that is not Avro; the outputs say what happened to them.
    expect(
      values(names.KAFKA_TOPIC_EVENTS)
        .map((v) => v.messageId)
        .sort(),
    ).toEqual(batch.map((e) => e.messageId).sort());
    expect([...(fromPython.get(names.KAFKA_TOPIC_EVENTS)?.values() ?? [])].filter((r) => r.error)).toHaveLength(1);
    expect(values(names.KAFKA_TOPIC_SEGMENT_CHANGES).map((v) => [v.segmentId, v.change])).toEqual(Array(3).fill(['buyers', 'entered']));
    expect(new Set(values(names.KAFKA_TOPIC_TRIGGERS).map((v) => v.causeEventId))).toEqual(new Set(buyers.map((b) => `${b}-order`)));
    const stages = values(names.KAFKA_TOPIC_LIFECYCLE)
      .map((v) => v.toStage)
      .sort();
    expect(stages).toEqual(['new', 'new', 'new', 'prospect', 'prospect', 'prospect', 'prospect']);
    const [dead] = values(names.KAFKA_TOPIC_DLQ);
    expect(dead).toMatchObject({
      reason: 'not_wire_format',
      sourceTopic: names.KAFKA_TOPIC_EVENTS,
      value: { base64: Buffer.from('not avro').toString('base64') },
    });
  });
});
