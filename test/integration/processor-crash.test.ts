import { type ChildProcess, spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { memberView } from '../../domain/member/member-view.ts';
import { DEFAULT_RFM } from '../../domain/member/rfm.ts';
import { keyedHash } from '../../domain/privacy/keyed-hash.ts';
import { createKafka } from '../../lib/kafka/client.ts';
import { createTopicCodecs } from '../../lib/kafka/codecs.ts';
import { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import { createLogger } from '../../lib/logger.ts';
import { RedisPipelineClient } from '../../lib/redis/pipeline-client.ts';
import { createRedis } from '../../lib/redis.ts';
import { IdentityResolver } from '../../processors/identity/resolver.ts';
import { keysWithPrefix } from '../../processors/store/keys.ts';
import { MemberStore } from '../../processors/store/member-store.ts';
import { loadSchemaCatalog } from '../../schemas/catalog.ts';
import type { EventRecord } from '../../schemas/records.ts';
import { FileSchemaRegistry } from '../../schemas/schema-registry.ts';
import { buildTopics, DEFAULT_TOPIC_NAMES, eventsTopicKey } from '../../schemas/topics.ts';
import { ensureTopics } from '../../scripts/stack/topics.ts';
import { toEventRecord } from '../workload/event-record.ts';
import { generateWorkload } from '../workload/generator.ts';
import { Random } from '../workload/random.ts';
import type { WorkloadEvent } from '../workload/segment-message.ts';

/*
 * Kills the processor with SIGKILL again and again while it works through a generated log,
 * then compares every person's member with a recomputation from the log alone.
 * The log is an events topic of this test's own, so the group reads nothing else.
 */
const services = inject('services');
const EVENTS = 200_000;
const PARTITIONS = 8;
const SECRET = 'crash-test-secret-0123456789';
const run = `${Date.now()}`;
const prefix = `crash${run}:`;
const group = `crash-${run}`;
const eventsTopic = `segstream.test.crash-events-${run}`;
const logger = createLogger({ service: 'crash-test', level: 'fatal' });
const redis = createRedis(services.redisUrl);
const children = new Set<ChildProcess>();
afterAll(async () => {
  // Whatever happened, no processor outlives the test.
  for (const child of children) child.kill('SIGKILL');
  await redis.quit();
  const admin = createKafka({ brokers: services.kafkaBrokers, clientId: 'crash-test-cleanup' }, logger).admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [eventsTopic] }).catch(() => {});
  await admin.disconnect();
});

/** The workload as it reaches Kafka: 2% client retries (same messageId, later) and 2% late arrivals. */
function deliveries(): { key: string; value: EventRecord; person: number }[] {
  const random = new Random(`crash-${EVENTS}`);
  const days = 60;
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  const out: { key: string; value: EventRecord; person: number; at: number }[] = [];
  const late: { item: (typeof out)[number]; releaseAfter: number }[] = [];
  const push = (e: WorkloadEvent) => {
    const value = toEventRecord(e.message, e.at + 500);
    // The Kafka record time stays the time it is produced: a broker deletes records older than its retention.
    const item = { key: eventsTopicKey(e.message), value, person: e.person, at: e.at };
    if (random.chance(0.02)) late.push({ item, releaseAfter: out.length + random.int(1, 400) });
    else out.push(item);
    if (random.chance(0.02)) out.push({ ...item, value: { ...item.value, receivedAt: item.value.receivedAt + 60_000 } });
    for (let i = late.length - 1; i >= 0; i--) {
      if ((late[i] as (typeof late)[number]).releaseAfter <= out.length) out.push((late.splice(i, 1)[0] as (typeof late)[number]).item);
    }
  };
  for (const e of generateWorkload({ seed: 2024, members: 4_000, days, start: today - days * 86_400_000 })) {
    if (e.at > Date.now() - 60_000) break;
    push(e);
    if (out.length >= EVENTS) break;
  }
  out.push(...late.map((l) => l.item));
  return out;
}

/** What each person's member must hold, computed here from the log alone. */
function expectedTotals(log: readonly { value: EventRecord; person: number }[]) {
  const seen = new Set<string>();
  const people = new Map<
    number,
    {
      events: number;
      pageViews: number;
      productViews: number;
      cartAdds: number;
      orders: number;
      spendCents: number;
      refunds: number;
      refundedCents: number;
      first: number;
      last: number;
      userId: string | null;
      anonymousId: string | null;
    }
  >();
  for (const { value: e, person } of log) {
    if (seen.has(e.messageId)) continue;
    seen.add(e.messageId);
    const p = people.get(person) ?? {
      events: 0,
      pageViews: 0,
      productViews: 0,
      cartAdds: 0,
      orders: 0,
      spendCents: 0,
      refunds: 0,
      refundedCents: 0,
      first: e.timestamp,
      last: e.timestamp,
      userId: null,
      anonymousId: null,
    };
    p.events++;
    if (e.type === 'page' || e.type === 'screen') p.pageViews++;
    const total = Math.round(Number((JSON.parse(e.properties) as { total?: number }).total ?? 0) * 100);
    if (e.event === 'Product Viewed') p.productViews++;
    if (e.event === 'Product Added') p.cartAdds++;
    if (e.event === 'Order Completed') {
      p.orders++;
      p.spendCents += total;
    }
    if (e.event === 'Order Refunded') {
      p.refunds++;
      p.refundedCents += total;
    }
    p.first = Math.min(p.first, e.timestamp);
    p.last = Math.max(p.last, e.timestamp);
    p.userId ??= e.userId;
    p.anonymousId ??= e.anonymousId;
    people.set(person, p);
  }
  return people;
}

describe('processor crash test (needs Kafka, Redis, ClickHouse)', () => {
  it(`is exact after repeated SIGKILLs while replaying ${EVENTS.toLocaleString('en-US')} events with duplicates and late events`, {
    timeout: 600_000,
  }, async () => {
    await ensureTopics(services.kafkaBrokers, [eventsTopic], { partitions: PARTITIONS, replicationFactor: -1 });
    const kafka = createKafka({ brokers: services.kafkaBrokers, clientId: 'crash-test' }, logger);
    const admin = kafka.admin();
    await admin.connect();
    const committedCount = async () => {
      const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [eventsTopic] });
      return (offsets?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
    };
    const log = deliveries();
    const catalog = await loadSchemaCatalog();
    const topics = buildTopics({ ...DEFAULT_TOPIC_NAMES, events: eventsTopic }, catalog);
    const producer = new TopicProducer(
      { brokers: services.kafkaBrokers, clientId: 'crash-test' },
      await createTopicCodecs(new FileSchemaRegistry(catalog), topics),
    );
    await producer.connect();
    for (let i = 0; i < log.length; i += 5_000) await producer.send(topics.events, log.slice(i, i + 5_000));
    await producer.disconnect();

    const env = {
      PATH: process.env.PATH,
      NODE_OPTIONS: '--disable-warning=TimeoutNegativeWarning',
      KAFKA_BROKERS: services.kafkaBrokers.join(','),
      KAFKA_TOPIC_EVENTS: eventsTopic,
      REDIS_URL: services.redisUrl,
      PROCESSOR_HOST: '127.0.0.1',
      PROCESSOR_PORT: '0',
      PROCESSOR_API_TOKENS: 't',
      SEGSTREAM_HMAC_SECRET: SECRET,
      REDIS_KEY_PREFIX: prefix,
      PROCESSOR_GROUP_ID: group,
      // A killed replica is waited for this long before its partitions move on.
      PROCESSOR_SESSION_TIMEOUT_MS: '6000',
      PROCESSOR_REBALANCE_TIMEOUT_MS: '6000',
      // Frequent commits: more commit points for kills to land between, and each run gets
      // only so far before its kill, however fast the processor is.
      PROCESSOR_COMMIT_INTERVAL_MS: '100',
      LOG_LEVEL: 'error',
    };
    const logFile = openSync(join(tmpdir(), `segstream-crash-${run}.log`), 'a');
    const start = (crashProbability: number): ChildProcess =>
      spawn(process.execPath, ['processors/main.ts'], {
        env: { ...env, PROCESSOR_CRASH_AFTER_STATE_PROBABILITY: String(crashProbability) },
        stdio: ['ignore', logFile, logFile],
      });
    const exited = (child: ChildProcess) => new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));

    let external = 0;
    let injected = 0;
    const random = new Random(run);
    let done = 0;
    // Runs take turns: most are killed a random moment after they committed new progress,
    // so the kill lands mid-processing; every fourth is killed while it joins the group (a
    // rebalance); every third of the others kills itself at the injected point between the
    // state update and the commit (it is left to do so, so those kills surely happen).
    let runs = 0;
    while (external + injected < 12 || injected < 2) {
      if (done >= log.length) break;
      runs++;
      const mode = runs % 4 === 0 ? 'join' : runs % 3 === 0 ? 'inject' : 'external';
      const child = start(mode === 'inject' ? 0.25 : 0);
      children.add(child);
      const exit = exited(child).then((signal) => ({ signal }));
      const before = done;
      let outcome: { signal: NodeJS.Signals | null } | null = null;
      const deadline = Date.now() + (mode === 'join' ? random.int(1_000, 4_000) : 120_000);
      while (!outcome && (mode !== 'external' || done <= before) && Date.now() < deadline) {
        outcome = await Promise.race([exit, sleep(250).then(() => null)]);
        done = await committedCount();
      }
      if (!outcome && mode === 'external') outcome = await Promise.race([exit, sleep(random.int(0, 500)).then(() => null)]);
      if (outcome === null) {
        child.kill('SIGKILL');
        await exit;
        external++;
      } else if (outcome.signal === 'SIGKILL') {
        injected++;
      } else {
        throw new Error(`the processor exited on its own (${outcome.signal ?? 'no signal'}); see ${join(tmpdir(), `segstream-crash-${run}.log`)}`);
      }
      children.delete(child);
      done = await committedCount();
      console.log(`[crash test] kills: ${external} external, ${injected} injected; committed ${done} of ${log.length}`);
    }
    expect(external + injected).toBeGreaterThanOrEqual(12);
    expect(injected).toBeGreaterThanOrEqual(2);

    // Finish without crashes.
    const last = start(0);
    children.add(last);
    const lastExit = exited(last);
    const deadline = Date.now() + 300_000;
    while ((await committedCount()) < log.length && Date.now() < deadline) await sleep(500);
    last.kill('SIGTERM');
    await lastExit;
    expect(await committedCount()).toBe(log.length);
    await admin.disconnect();

    // Every person's member against the recomputation.
    await redis.connect().catch(() => {});
    const keys = keysWithPrefix(prefix);
    const memberRedis = new RedisPipelineClient(services.redisUrl);
    const resolver = new IdentityResolver(memberRedis, keys, keyedHash(SECRET), []);
    const store = new MemberStore(memberRedis, keys);
    const expected = expectedTotals(log);
    const mismatches: string[] = [];
    for (const [person, want] of expected) {
      const memberId = want.userId ? await resolver.memberOf('user', want.userId) : await resolver.memberOf('anon', want.anonymousId as string);
      if (!memberId) {
        mismatches.push(`person ${person}: no member`);
        continue;
      }
      const state = (await store.load([{ memberId, messageIds: [] }])).get(memberId)?.state;
      if (!state) {
        mismatches.push(`person ${person}: no state`);
        continue;
      }
      const view = memberView(state, Date.now(), [365], DEFAULT_RFM);
      const got = {
        events: view.counters.events?.['365d']?.count ?? 0,
        pageViews: view.counters.page_views?.['365d']?.count ?? 0,
        productViews: view.counters.product_views?.['365d']?.count ?? 0,
        cartAdds: view.counters.cart_adds?.['365d']?.count ?? 0,
        orders: state.orders.count,
        spendCents: Math.round(state.orders.spend * 100),
        refunds: state.orders.refunds,
        refundedCents: Math.round(state.orders.refunded * 100),
        first: state.firstSeenAt,
        last: state.lastSeenAt,
      };
      const { userId: _u, anonymousId: _a, ...wantTotals } = want;
      if (JSON.stringify(got) !== JSON.stringify(wantTotals))
        mismatches.push(`person ${person}: expected ${JSON.stringify(wantTotals)}, got ${JSON.stringify(got)}`);
    }
    console.log(
      `[crash test] ${log.length} records, ${expected.size} people, ${external} external SIGKILLs, ${injected} at the injected point, ${mismatches.length} mismatches`,
    );
    expect(mismatches.slice(0, 5)).toEqual([]);
  });
});
