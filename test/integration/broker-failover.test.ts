import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKafka } from '../../lib/kafka/client.ts';
import { createTopicCodecs } from '../../lib/kafka/codecs.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRedis } from '../../lib/redis.ts';
import { RuleStore } from '../../lib/rule-store/rule-store.ts';
import { withTimeout } from '../../lib/with-timeout.ts';
import { loadSchemaCatalog } from '../../schemas/catalog.ts';
import type { SegmentChangeRecord } from '../../schemas/records.ts';
import { FileSchemaRegistry } from '../../schemas/schema-registry.ts';
import { buildTopics, DEFAULT_TOPIC_NAMES } from '../../schemas/topics.ts';
import { LocalKafka } from '../../scripts/stack/local-kafka.ts';
import { ensureTopics } from '../../scripts/stack/topics.ts';
import { type RunningIngest, startIngest } from '../harness/ingest.ts';
import { PROCESSOR_TOKEN, startProcessor } from '../harness/processor-service.ts';
import { consumeRange, highWatermarks, type PartitionOffsets } from '../harness/read-range.ts';
import { until } from '../harness/until.ts';

/*
 * A three-node Apache Kafka cluster of this test's own (3 replicas, min.insync.replicas=2).
 * While ingest takes traffic and a processor consumes, the leader of a busy partition is
 * killed with SIGKILL, then started again. Ingest must answer 2xx only for stored events
 * (503 or 429 with Retry-After otherwise, and the senders retry as an SDK does), nothing
 * acknowledged may be lost, the processor must apply every event once, and the node must
 * rejoin the in-sync replicas.
 */
const services = inject('services');
const run = Date.now();
const prefix = `bf${run}:`;
const PARTITIONS = 4;
const USERS = 12;
const SENDERS = 4;
const EVENTS_PER_REQUEST = 10;
const logger = createLogger({ service: 'broker-failover-test', level: 'fatal' });
const redis = createRedis(services.redisUrl);
let cluster: LocalKafka;
let ingest: RunningIngest | undefined;
let processor: Awaited<ReturnType<typeof startProcessor>> | undefined;

beforeAll(async () => {
  cluster = await LocalKafka.start({ dir: resolve('.segstream/test/broker-failover-kafka'), brokers: 3 });
  console.log(`[broker-failover] 3-node Apache Kafka ${cluster.version} started in ${cluster.startedInMs} ms`);
  await ensureTopics(cluster.bootstrap, Object.values(DEFAULT_TOPIC_NAMES), { partitions: PARTITIONS, replicationFactor: cluster.replicationFactor });
});
afterAll(async () => {
  await ingest?.stop();
  await processor?.service.lifecycle.stop();
  await redis.quit();
  await cluster?.stop();
});

interface Sent {
  readonly startedAt: number;
  readonly ms: number;
  readonly status: number;
  readonly retryAfter: string | null;
  /** Why there was no answer (status 0). */
  readonly error?: string;
}

const auth = { authorization: `Basic ${Buffer.from('wk_web:').toString('base64')}`, 'content-type': 'application/json' };
const userOf = (i: number) => `bf-user-${run}-${i % USERS}`;

async function member(url: string, userId: string): Promise<{ memberId: string; events: number } | undefined> {
  const response = await fetch(`${url}/members/lookup?kind=user&value=${encodeURIComponent(userId)}`, {
    headers: { authorization: `Bearer ${PROCESSOR_TOKEN}` },
  });
  if (response.status !== 200) return undefined;
  const body = (await response.json()) as { member?: { memberId: string; counters: { events?: Record<string, { count: number }> } } };
  return body.member ? { memberId: body.member.memberId, events: body.member.counters.events?.['30d']?.count ?? 0 } : undefined;
}

describe('broker failover on a three-node cluster (needs Java for a Kafka cluster of its own)', () => {
  it('the leader of a busy partition killed with SIGKILL: 2xx only for stored events, none lost, each applied once, the node rejoins', async () => {
    await new RuleStore(redis, prefix).write(
      'buyers',
      0,
      {
        id: 'buyers',
        kind: 'segment',
        name: 'buyers',
        description: '',
        condition: { '>=': [{ var: 'orders.count' }, 1] },
        active: true,
        updatedAt: 0,
        updatedBy: 'test',
      },
      { actor: 'test', action: 'create', before: null, at: 0 },
    );
    processor = await startProcessor(cluster.bootstrap, services.redisUrl, {
      KAFKA_TOPIC_EVENTS: DEFAULT_TOPIC_NAMES.events,
      KAFKA_TOPIC_SEGMENT_CHANGES: DEFAULT_TOPIC_NAMES.segmentChanges,
      KAFKA_TOPIC_TRIGGERS: DEFAULT_TOPIC_NAMES.triggers,
      KAFKA_TOPIC_LIFECYCLE: DEFAULT_TOPIC_NAMES.lifecycle,
      KAFKA_TOPIC_DLQ: DEFAULT_TOPIC_NAMES.deadLetters,
      KAFKA_TOPIC_MEMBER_EVENTS: DEFAULT_TOPIC_NAMES.memberEvents,
      KAFKA_TOPIC_IDENTITY_CHANGES: DEFAULT_TOPIC_NAMES.identityChanges,
      REDIS_KEY_PREFIX: prefix,
      PROCESSOR_GROUP_ID: `bf-${run}`,
    });
    // A produce timeout well under the ~9 s the leader takes to move (the controller fences a
    // silent broker after broker.session.timeout.ms, 9 s by default), so requests caught in
    // the move are refused and sent again: the path where a record can be stored twice.
    ingest = await startIngest(cluster.bootstrap, { INGEST_PRODUCE_TIMEOUT_MS: '3000' });
    const kafka = createKafka({ brokers: cluster.bootstrap, clientId: 'broker-failover-test' }, logger);
    const admin = kafka.admin();
    await admin.connect();
    const mark = await ingest.mark();
    const segmentMark: PartitionOffsets = await highWatermarks(kafka, DEFAULT_TOPIC_NAMES.segmentChanges);

    // Senders: each posts a batch, and retries the same batch (same message ids) after
    // Retry-After when it is refused, as an SDK does. Each user's first event is an order.
    const sent: Sent[] = [];
    const acknowledged = new Map<string, string>(); // messageId -> userId
    let sequence = 0;
    let sending = true;
    const senders = Array.from({ length: SENDERS }, async (_, sender) => {
      while (sending) {
        const batch = Array.from({ length: EVENTS_PER_REQUEST }, () => {
          const n = sequence++;
          const userId = userOf(n);
          const messageId = `bf-${run}-${sender}-${n}`;
          return n < USERS
            ? { type: 'track', messageId, userId, event: 'Order Completed', properties: { order_id: `o-${n}`, total: 20, currency: 'EUR' } }
            : { type: 'track', messageId, userId, event: 'Product Viewed', properties: { n } };
        });
        // The same batch again until it is stored, as an SDK does; a test that failed stops its senders.
        while (sending) {
          const startedAt = Date.now();
          // Ingest answers within its produce timeout (3 s here); a request still open after 20 s is a failure to show, not to wait for.
          const response = await fetch(`${(ingest as RunningIngest).url}/v1/batch`, {
            method: 'POST',
            headers: auth,
            body: JSON.stringify({ batch }),
            signal: AbortSignal.timeout(20_000),
          }).catch((error: unknown) => {
            sent.push({ startedAt, ms: Date.now() - startedAt, status: 0, retryAfter: null, error: String(error) });
            return undefined;
          });
          if (!response) continue;
          await response.arrayBuffer();
          sent.push({ startedAt, ms: Date.now() - startedAt, status: response.status, retryAfter: response.headers.get('retry-after') });
          if (response.status === 200) {
            for (const e of batch) acknowledged.set(e.messageId, e.userId);
            break;
          }
          await sleep(Number(response.headers.get('retry-after') ?? 1) * 1_000);
        }
        await sleep(20);
      }
    });

    // Each look at the cluster is bounded: a request caught by the kill may wait out the client's retries.
    const metadata = () => withTimeout(admin.fetchTopicMetadata({ topics: [DEFAULT_TOPIC_NAMES.events] }), 10_000, 'a metadata answer');
    const leaderOf = async (partition: number) => (await metadata()).topics[0]?.partitions.find((p) => p.partitionId === partition);
    try {
      await until(
        'the processor applies traffic',
        async () => (((await member(processor?.url as string, userOf(0)))?.events ?? 0) > 0 ? true : undefined),
        60_000,
      );
      await until('a stretch of steady traffic before the kill', async () => (acknowledged.size >= 400 ? true : undefined), 60_000);
      const victim = (await leaderOf(0))?.leader as number;
      const killedAt = Date.now();
      const pid = await cluster.killNode(victim);
      console.log(`[broker-failover] killed node ${victim} (pid ${pid}), leader of events partition 0, with SIGKILL`);
      const moved = await until(
        'partition 0 has another leader',
        async () => {
          const p = await leaderOf(0).catch(() => undefined);
          return p && p.leader !== victim && p.leader >= 0 ? p : undefined;
        },
        60_000,
      );
      const movedInMs = Date.now() - killedAt;
      // Traffic goes on until requests that started after the move are acknowledged again.
      await until('requests are acknowledged again after the move', async () =>
        sent.some((s) => s.startedAt > killedAt + movedInMs && s.status === 200) ? true : undefined,
      );
      const restartedAt = Date.now();
      await withTimeout(cluster.restartNode(victim), 120_000, `node ${victim} ready after its restart`);
      const rejoined = await until(
        'the restarted node is back in every in-sync replica set of the events topic',
        async () => {
          const partitions = (await metadata().catch(() => undefined))?.topics[0]?.partitions ?? [];
          return partitions.length === PARTITIONS && partitions.every((p) => p.isr.includes(victim)) ? true : undefined;
        },
        60_000,
      );
      const rejoinedInMs = Date.now() - restartedAt;
      expect(rejoined).toBe(true);
      const back = Date.now();
      await until('traffic acknowledged with the node back', async () => (sent.some((x) => x.startedAt > back && x.status === 200) ? true : undefined));
      sending = false;
      await Promise.all(senders);

      // What the senders were told.
      const refused = sent.filter((s) => s.status !== 200);
      expect(sent.filter((s) => ![200, 429, 503].includes(s.status))).toEqual([]);
      expect(refused.every((s) => s.retryAfter !== null)).toBe(true);
      expect(refused.length).toBeGreaterThan(0);
      const around = sent.filter((s) => s.startedAt >= killedAt && s.startedAt < killedAt + movedInMs);
      const slowest = Math.max(...sent.map((s) => s.ms));
      console.log(
        `[broker-failover] ${sent.length} requests (${acknowledged.size} events acknowledged); leader moved ${movedInMs} ms after the kill (new leader node ${moved.leader}); ` +
          `${refused.length} refused (${[...new Set(refused.map((s) => s.status))].join(', ') || 'none'}); ${around.length} requests started while it moved; slowest request ${slowest} ms; ` +
          `node ${victim} back in every ISR ${rejoinedInMs} ms after its restart`,
      );

      // Nothing acknowledged is lost: every acknowledged event is in the topic, as sent.
      const stored = await ingest.eventsSince(mark);
      const storedIds = new Map<string, number>();
      for (const record of stored) storedIds.set(record.messageId, (storedIds.get(record.messageId) ?? 0) + 1);
      const lost = [...acknowledged.keys()].filter((id) => !storedIds.has(id));
      expect(lost).toEqual([]);
      const copies = [...storedIds.values()].filter((n) => n > 1).length;
      console.log(
        `[broker-failover] ${stored.length} records stored for ${storedIds.size} message ids (${copies} stored more than once: client retries of refused requests)`,
      );

      // Each stored event applied once: every user's event count is its number of distinct stored events.
      const userOfMessage = new Map(stored.map((r) => [r.messageId, r.userId as string]));
      const expected = new Map<string, number>();
      for (const userId of userOfMessage.values()) expected.set(userId, (expected.get(userId) ?? 0) + 1);
      const members = new Map<string, string>();
      for (const [userId, count] of expected) {
        const found = await until(
          `${userId} has all ${count} events applied`,
          async () => {
            const m = await member(processor?.url as string, userId);
            return m && m.events >= count ? m : undefined;
          },
          60_000,
        );
        expect(found.events, userId).toBe(count);
        members.set(found.memberId, userId);
      }

      // Each buyer entered the segment once (a record published again keeps its id).
      const catalog = await loadSchemaCatalog();
      const topics = buildTopics(DEFAULT_TOPIC_NAMES, catalog);
      const codecs = await createTopicCodecs(new FileSchemaRegistry(catalog), topics);
      // Outputs are published after the state is saved: read until every entry is there.
      const mine = await until(
        `a segment change for each of the ${USERS} buyers`,
        async () => {
          const changes: SegmentChangeRecord[] = [];
          await consumeRange(kafka, codecs, topics.segmentChanges, segmentMark, await highWatermarks(kafka, DEFAULT_TOPIC_NAMES.segmentChanges), async (r) => {
            changes.push(r);
          });
          const found = changes.filter((c) => members.has(c.memberId));
          return new Set(found.map((c) => c.id)).size >= USERS ? found : undefined;
        },
        60_000,
        1_000,
      );
      expect(new Set(mine.map((c) => c.id)).size).toBe(USERS);
      expect(new Set(mine.map((c) => `${c.memberId} ${c.change}`))).toEqual(new Set([...members.keys()].map((m) => `${m} entered`)));
      console.log(`[broker-failover] ${mine.length} segment-change records for ${USERS} entries (${mine.length - USERS} published again with the same id)`);
    } finally {
      sending = false;
      await Promise.allSettled(senders);
      await admin.disconnect();
    }
  }, 300_000);
});
