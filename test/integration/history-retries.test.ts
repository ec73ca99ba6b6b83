import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { ANALYSES } from '../../lib/analytics/catalog.ts';
import { systemClock } from '../../lib/clock.ts';
import { loadConfig } from '../../lib/config/load.ts';
import { createKafka } from '../../lib/kafka/client.ts';
import { partitionOfKey } from '../../lib/kafka/key-partition.ts';
import { createLogger } from '../../lib/logger.ts';
import { EmbeddedWarehouse } from '../../lib/warehouse/embedded.ts';
import { rulesConfigSchema } from '../../rules/config.ts';
import { createRulesService } from '../../rules/service.ts';
import type { EventRecord } from '../../schemas/records.ts';
import { freePort } from '../../scripts/stack/processes.ts';
import { ensureTopics } from '../../scripts/stack/topics.ts';
import { startIngest } from '../harness/ingest.ts';
import { HISTORY_TOKEN, PROCESSOR_TOKEN, startHistory, startProcessor } from '../harness/processor-service.ts';
import { highWatermarks, type PartitionOffsets } from '../harness/read-range.ts';
import { type SentBatch, sendAsSdk } from '../harness/sdk-batches.ts';
import { until } from '../harness/until.ts';
import { generateWorkload } from '../workload/generator.ts';
import type { SegmentMessage, WorkloadEvent } from '../workload/segment-message.ts';
import { summarize } from '../workload/summary.ts';

/*
 * History is counted once under real client retries. The whole workload goes through
 * ingest's /v1/batch as an SDK sends it, and then all of it again with the same message ids
 * and payloads in new requests with a new sentAt, as an SDK retry does: some from clocks
 * within INGEST_CLOCK_SKEW_TOLERANCE_MS (the copy keeps the client's event time), some
 * beyond it (ingest corrects the copy's event time, so the copy differs from the stored
 * event). The copies land at new offsets with new receive times. Every history table,
 * read exactly with FINAL, and every analysis of the catalogue must be unchanged.
 *
 * It fails if either cause of the 37,044-rows incident comes back: processors publishing
 * history for the duplicates they skip (the copies' rows replace the stored ones, with a
 * new received_at or a corrected ts, or add to them under the member an anonymous id was
 * merged into), or ingest recomputing each copy's event time from its own sentAt (the
 * stored event time then is not the client's). It fails too if a copy is applied again,
 * e.g. one resolved through a merge to a member that does not know its message id.
 */

const services = inject('services');
const logger = createLogger({ service: 'history-retries-test', level: 'fatal' });
const kafka = createKafka({ brokers: services.kafkaBrokers, clientId: 'history-retries-test' }, logger);
const run = Date.now().toString(36);
const DAY = 86_400_000;
const WRITE_KEY = 'wk_web';
const EDITOR = 'retries-editor-token';
/** ingest's tolerance (its default, set explicitly because the expected event times follow from it). */
const SKEW_TOLERANCE_MS = 30_000;
/** Client clocks per request, cycling (ms the clock is off). Within the tolerance the copy keeps the client's time; beyond it ingest corrects it. */
const FIRST_SEND_CLOCKS = [0, 15_000, -15_000, -10 * 60_000];
const RESEND_CLOCKS = [0, -15_000, 15 * 60_000, 15_000, -2 * 3_600_000];

// Own topics, read from their start by groups of this run: nothing of other tests can reach this history.
const topicNames = {
  events: `segstream.test.retries-${run}.events`,
  segmentChanges: `segstream.test.retries-${run}.segment-changes`,
  triggers: `segstream.test.retries-${run}.triggers`,
  lifecycle: `segstream.test.retries-${run}.lifecycle`,
  deadLetters: `segstream.test.retries-${run}.dlq`,
  memberEvents: `segstream.test.retries-${run}.member-events`,
  identityChanges: `segstream.test.retries-${run}.identity-changes`,
};
const topicEnv = {
  KAFKA_TOPIC_EVENTS: topicNames.events,
  KAFKA_TOPIC_SEGMENT_CHANGES: topicNames.segmentChanges,
  KAFKA_TOPIC_TRIGGERS: topicNames.triggers,
  KAFKA_TOPIC_LIFECYCLE: topicNames.lifecycle,
  KAFKA_TOPIC_DLQ: topicNames.deadLetters,
  KAFKA_TOPIC_MEMBER_EVENTS: topicNames.memberEvents,
  KAFKA_TOPIC_IDENTITY_CHANGES: topicNames.identityChanges,
};
/** What the history service reads. */
const HISTORY_SOURCES = [topicNames.memberEvents, topicNames.identityChanges, topicNames.segmentChanges, topicNames.triggers, topicNames.lifecycle];

/** Each history table with its sort key: the order its exact (FINAL) row set is read in. */
const TABLES = {
  events: 'member_id, message_id',
  orders: 'member_id, message_id',
  identity_changes: 'member_id, action, kind, identity_hash, other_member_id, message_id',
  lifecycle_transitions: 'member_id, at, id',
  segment_changes: 'segment_id, at, member_id, id',
  trigger_firings: 'rule_id, at, member_id, id',
} as const;
type TableName = keyof typeof TABLES;
type TableRows = Record<TableName, string[]>;

const SEGMENT_RULES = [
  { id: 'repeat_buyers', condition: { '>=': [{ var: 'orders.count' }, 2] } },
  { id: 'big_spenders', condition: { '>=': [{ var: 'orders.spend' }, 150] } },
  { id: 'active_members', condition: { '==': [{ var: 'lifecycle.stage' }, 'active'] } },
  { id: 'refunded_once', condition: { '>=': [{ var: 'orders.refunds' }, 1] } },
];
// No quiet hours, sequences or calendar patterns: those fire by timer, and the test must know when everything is written.
const TRIGGER_RULES = [
  {
    id: 'first_order_thanks',
    on: { event: 'Order Completed' },
    condition: { '==': [{ var: 'orders.count' }, 1] },
    businessLine: 'crm',
    controls: { holdoutPercent: 20 },
  },
  {
    id: 'big_order_coupon',
    on: { event: 'Order Completed' },
    condition: { '>=': [{ var: 'event.properties.total' }, 80] },
    businessLine: 'coupons',
    controls: { cooldownMinutes: 7 * 24 * 60, maxOutstandingCoupons: 1 },
  },
  { id: 'welcome', on: { event: 'Signed Up' }, condition: true, businessLine: 'onboarding' },
  { id: 'repeat_reward', on: { segment: 'repeat_buyers', change: 'entered' }, condition: true, businessLine: 'loyalty' },
];

/**
 * Visitors who arrive after the workload, one on each partition, sent in a request of their
 * own: live traffic goes on. Without them the workload's last logins may never be applied:
 * a login waits until its anonymous id's partition has applied a record received after it
 * (docs/processors.md, Order across partitions), so two logins whose anonymous ids sit on
 * each other's partitions, with nothing after them there, wait for each other until
 * something arrives on those partitions.
 */
function laterVisitors(partitions: number, at: number): SegmentMessage[] {
  return Array.from({ length: partitions }, (_, partition) => {
    let n = 0;
    while (partitionOfKey(`later-visitor-${partition}-${n}`, partitions) !== partition) n++;
    const anonymousId = `later-visitor-${partition}-${n}`;
    return { type: 'page', messageId: `later-visit-${partition}`, timestamp: new Date(at).toISOString(), anonymousId, name: 'Home', properties: { path: '/' } };
  });
}

/**
 * Signed-up people coming back on a new device: they browse there anonymously, then log
 * in, which merges the device's anonymous member into theirs (the generator's people log
 * in on a new device before doing anything there, a link without a merge). The copies of
 * their anonymous events resolve to the member they were merged into and must be dropped
 * there.
 */
function returnsOnNewDevices(workload: readonly WorkloadEvent[], count: number, before: number): WorkloadEvent[] {
  const signUps = workload.filter((e) => e.message.event === 'Signed Up' && e.at < before - 2 * DAY).slice(0, count);
  return signUps.flatMap((signUp, i) => {
    const userId = signUp.message.userId as string;
    const anonymousId = `new-device-${i}`;
    const steps: Omit<SegmentMessage, 'messageId' | 'timestamp' | 'anonymousId'>[] = [
      { type: 'page', name: 'Home', properties: { path: '/' } },
      { type: 'track', event: 'Product Viewed', properties: { product_id: `new-device-product-${i}`, price: 20 } },
      { type: 'track', event: 'Logged In', userId, properties: { method: 'password' } },
      { type: 'identify', userId, traits: {} },
    ];
    const start = signUp.at + DAY + i * 3_600_000;
    return steps.map((step, k) => {
      const at = start + k * 30_000;
      const message = { ...step, messageId: `new-device-${i}-${k}`, timestamp: new Date(at).toISOString(), anonymousId } as SegmentMessage;
      return { at, person: signUp.person, message };
    });
  });
}

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The requests every snapshot asks, covering the workload's span: every analysis of the catalogue at least once. */
function analysisRequests(span: { from: number; to: number }, members: readonly (readonly string[])[]): [string, object][] {
  const { from, to } = span;
  const days = { fromDay: isoDay(from), toDay: isoDay(to - 1) };
  const funnel = {
    steps: ['Product Viewed', 'Product Added', 'Checkout Started', 'Order Completed'].map((event) => ({ event })),
    windowSeconds: DAY / 1000,
    from,
    to,
  };
  return [
    ['funnel', funnel],
    ['funnel', { ...funnel, order: 'strict', breakdown: { property: 'category' } }],
    ['funnel', { ...funnel, steps: [{ event: 'Product Viewed', where: [{ property: 'price', op: 'gte', value: 50 }] }, { event: 'Order Completed' }] }],
    [
      'funnel',
      { ...funnel, steps: [{ event: 'Signed Up' }, { event: 'Order Completed' }], windowSeconds: (7 * DAY) / 1000, breakdown: { segment: 'repeat_buyers' } },
    ],
    ['retention', { period: 'day', periods: 14, from, to }],
    ['retention', { period: 'week', periods: 4, from, to, cohortEvent: 'Signed Up', returnEvent: 'Order Completed', timeZone: 'Asia/Shanghai' }],
    ['attribution', { from, to, lookbackDays: 7 }],
    ['attribution', { from, to, lookbackDays: 30, models: ['time_decay'], halfLifeDays: 2 }],
    ['paths', { anchor: 'Product Viewed', from, to }],
    ['paths', { anchor: 'Order Completed', direction: 'previous', steps: 2, from, to, limit: 50 }],
    ['trends', days],
    ['trends', { ...days, event: 'Order Completed', breakdown: { property: 'currency' }, timeZone: 'America/New_York' }],
    ['trends', { ...days, event: 'Product Viewed', breakdown: { property: 'category' } }],
    ['lifecycle-sizes', days],
    ['lifecycle-sizes', { ...days, timeZone: 'Asia/Shanghai' }],
    ['segment-sizes', days],
    ['rfm', { at: to }],
    ['ltv', { at: to }],
    ['ltv', { at: to, timeZone: 'Asia/Shanghai' }],
    ...TRIGGER_RULES.flatMap((rule): [string, object][] => [
      ['campaign', { ruleId: rule.id, from, to, days: 7 }],
      ['campaign', { ruleId: rule.id, from, to, days: 3 }],
    ]),
    ...members.map((ids): [string, object] => ['member-events', { members: ids, limit: 200 }]),
  ];
}

async function askHistory(historyUrl: string, name: string, request: object): Promise<unknown> {
  const response = await fetch(`${historyUrl}/warehouse/analyses/${name}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${HISTORY_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(request),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${name} ${JSON.stringify(request)}: HTTP ${response.status} ${text}`);
  return JSON.parse(text);
}

/** The member lookup of the processor (state as of `at`, and its latest events, which it reads from the history service). */
async function lookup(processorUrl: string, kind: string, value: string, at: number): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${processorUrl}/members/lookup?kind=${kind}&value=${encodeURIComponent(value)}&events=200&at=${at}`, {
    headers: { authorization: `Bearer ${PROCESSOR_TOKEN}` },
  });
  return { status: response.status, body: await response.json() };
}

/** The history tables' exact row sets (FINAL), each row as JSON text in sort-key order. Opens ClickHouse, so the history service must be stopped. */
async function readTables(path: string): Promise<TableRows> {
  const warehouse = await EmbeddedWarehouse.open(path, 'segstream');
  try {
    const rows = {} as TableRows;
    for (const [table, key] of Object.entries(TABLES) as [TableName, string][])
      rows[table] = (await warehouse.query(`SELECT * FROM ${table} FINAL ORDER BY ${key}`)).map((row) => JSON.stringify(row));
    return rows;
  } finally {
    await warehouse.close();
  }
}

/** Event time and receive time of every stored event, by message id (epoch ms). */
async function readEventTimes(path: string): Promise<Map<string, { ts: number; receivedAt: number; rows: number }>> {
  const warehouse = await EmbeddedWarehouse.open(path, 'segstream');
  try {
    const rows = await warehouse.query<{ message_id: string; ts: string; received_at: string; rows: string }>(
      `SELECT message_id, toUnixTimestamp64Milli(any(ts)) AS ts, toUnixTimestamp64Milli(any(received_at)) AS received_at, count() AS rows
       FROM events FINAL GROUP BY message_id`,
    );
    return new Map(rows.map((r) => [r.message_id, { ts: Number(r.ts), receivedAt: Number(r.received_at), rows: Number(r.rows) }]));
  } finally {
    await warehouse.close();
  }
}

/** "value count, ..." of a column over rows in JSON text. */
function tally(rows: readonly string[], column: string): string {
  const counts = new Map<string, number>();
  for (const row of rows) {
    const value = String((JSON.parse(row) as Record<string, unknown>)[column]);
    counts.set(value, (counts.get(value) ?? 0) + 1);
  }
  return [...counts]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([value, n]) => `${value} ${n}`)
    .join(', ');
}

/** Paid and refunded orders of the orders table's rows, with their amounts in cents. */
function orderTotals(rows: readonly string[]): { paid: number; paidCents: number; refunded: number; refundedCents: number } {
  const totals = { paid: 0, paidCents: 0, refunded: 0, refundedCents: 0 };
  for (const row of rows) {
    const order = JSON.parse(row) as { kind: string; amount: number | string };
    const cents = Math.round(Number(order.amount) * 100);
    if (order.kind === 'paid') {
      totals.paid++;
      totals.paidCents += cents;
    } else {
      totals.refunded++;
      totals.refundedCents += cents;
    }
  }
  return totals;
}

/** Rows only in `before` and only in `after`, each a multiset difference. */
function difference(before: readonly string[], after: readonly string[]): { onlyBefore: string[]; onlyAfter: string[] } {
  const counts = new Map<string, number>();
  for (const row of before) counts.set(row, (counts.get(row) ?? 0) + 1);
  const onlyAfter: string[] = [];
  for (const row of after) {
    const left = counts.get(row) ?? 0;
    if (left > 0) counts.set(row, left - 1);
    else onlyAfter.push(row);
  }
  const onlyBefore = [...counts].flatMap(([row, n]) => Array<string>(n).fill(row));
  return { onlyBefore, onlyAfter };
}

async function committedOffsets(kafkaClient: Kafka, groupId: string, topics: readonly string[]): Promise<Map<string, bigint>> {
  const admin = kafkaClient.admin();
  await admin.connect();
  try {
    const committed = await admin.fetchOffsets({ groupId, topics: [...topics] });
    return new Map(committed.flatMap((t) => t.partitions.map((p) => [`${t.topic}/${p.partition}`, BigInt(p.offset)] as const)));
  } finally {
    await admin.disconnect();
  }
}

/** Ends of the topics, keyed topic/partition. */
async function topicEnds(topics: readonly string[]): Promise<Map<string, bigint>> {
  const ends = new Map<string, bigint>();
  for (const topic of topics) for (const [partition, high] of await highWatermarks(kafka, topic)) ends.set(`${topic}/${partition}`, high);
  return ends;
}

/** Resolves once the group has committed every partition of the topics up to `ends` (a partition with no records needs nothing). */
async function committedThrough(groupId: string, ends: ReadonlyMap<string, bigint>): Promise<true | undefined> {
  const topics = [...new Set([...ends.keys()].map((key) => key.slice(0, key.lastIndexOf('/'))))];
  const committed = await committedOffsets(kafka, groupId, topics);
  return [...ends].every(([key, end]) => end === 0n || (committed.get(key) ?? -1n) >= end) ? true : undefined;
}

describe('history under client retries (needs Kafka, Redis, ClickHouse)', () => {
  it('a resend of the whole workload with the same message ids, new sentAt (within and beyond the clock-skew tolerance) and new offsets changes no history table and no analysis', async () => {
    const started = Date.now();
    const today = Math.floor(started / DAY) * DAY;
    const workloadStart = today - 21 * DAY;
    // An SDK sends what has happened: the generator dates some refunds after now. Three hours back, so that no copy
    // corrected for a clock 2 h slow lands past ingest's future tolerance (it would be reset to its receive time).
    const sendable = (at: number) => at < started - 3 * 3_600_000;
    const generated = [...generateWorkload({ seed: 'history-retries', members: 250, days: 20, start: workloadStart })].filter((e) => sendable(e.at));
    // In time order, as the SDKs send them (a stable sort keeps the generator's order of equal times).
    const workload = [...generated, ...returnsOnNewDevices(generated, 12, started)].sort((a, b) => a.at - b.at);
    const later = laterVisitors(services.partitions, started - 60_000);
    const messages: SegmentMessage[] = [...workload.map((e) => e.message), ...later];
    const summary = summarize(workload);
    // Every analysis reads from the day before the workload to the end of today. The workload began 21 days ago, and
    // lifecycle checks fall due 30 days after an order at the earliest: time alone changes nothing while the test runs.
    const span = { from: workloadStart - DAY, to: today + DAY };

    const prefix = `hr${run}:`;
    const processorGroup = `history-retries-processor-${run}`;
    const historyGroup = `history-retries-history-${run}`;
    const clickhousePath = mkdtempSync(join(tmpdir(), 'segstream-history-retries-'));
    // One address for both history services this test starts: the processor's member lookup asks it.
    const historyPort = await freePort();
    const historyEnv = {
      ...topicEnv,
      CLICKHOUSE_PATH: clickhousePath,
      HISTORY_GROUP_ID: historyGroup,
      HISTORY_NEW_GROUP_STARTS_AT: 'earliest',
      HISTORY_PORT: String(historyPort),
    };
    await ensureTopics(services.kafkaBrokers, Object.values(topicNames), { partitions: services.partitions, replicationFactor: -1 });

    // What is running, stopped in `finally` (the latest started first); the history service stops and starts in between.
    const running = new Map<string, () => Promise<void>>();
    const cleanupFailures: string[] = [];
    try {
      let history = await startHistory(services.kafkaBrokers, historyEnv);
      running.set('history', () => history.service.lifecycle.stop());
      const processor = await startProcessor(services.kafkaBrokers, services.redisUrl, {
        ...topicEnv,
        REDIS_KEY_PREFIX: prefix,
        PROCESSOR_GROUP_ID: processorGroup,
        PROCESSOR_NEW_GROUP_STARTS_AT: 'earliest',
        PROCESSOR_HISTORY_URL: history.url,
        PROCESSOR_HISTORY_TOKEN: HISTORY_TOKEN,
        // Event time follows the wall clock 2 s (not 10 s) after the last event: the test waits for that twice.
        PROCESSOR_QUIET_AFTER_MS: '2000',
      });
      running.set('processor', () => processor.service.lifecycle.stop());
      const ingest = await startIngest(services.kafkaBrokers, {
        KAFKA_TOPIC_EVENTS: topicNames.events,
        KAFKA_TOPIC_DLQ: topicNames.deadLetters,
        INGEST_CLOCK_SKEW_TOLERANCE_MS: String(SKEW_TOLERANCE_MS),
      });
      running.set('ingest', () => ingest.stop());
      const rules = await createRulesService(
        loadConfig(rulesConfigSchema, {
          REDIS_URL: services.redisUrl,
          REDIS_KEY_PREFIX: prefix,
          RULES_HOST: '127.0.0.1',
          RULES_PORT: '0',
          RULES_API_TOKENS: `tester:editor:${EDITOR}`,
          LOG_LEVEL: 'fatal',
        }),
        systemClock,
        logger,
      );
      await rules.lifecycle.start();
      running.set('rules', () => rules.lifecycle.stop());
      for (const rule of [
        ...SEGMENT_RULES.map((r) => ({ ...r, kind: 'segment', name: r.id, active: true })),
        ...TRIGGER_RULES.map((r) => ({ ...r, kind: 'trigger', name: r.id, active: true })),
      ]) {
        const response = await fetch(`${rules.url()}/rules`, {
          method: 'POST',
          headers: { authorization: `Bearer ${EDITOR}`, 'content-type': 'application/json' },
          body: JSON.stringify(rule),
        });
        expect(response.status, `${rule.id}: ${await response.clone().text()}`).toBe(201);
      }
      await rules.lifecycle.stop();
      running.delete('rules');
      await until('the processor evaluates the rules', async () => {
        const active = (await processor.service.metrics.activeRules.get()).values;
        const count = (kind: string) => active.find((v) => v.labels.kind === kind)?.value;
        return count('segment') === SEGMENT_RULES.length && count('trigger') === TRIGGER_RULES.length ? true : undefined;
      });
      await until('every service is ready', async () =>
        (await fetch(`${processor.url}/readyz`)).ok && (await fetch(`${history.url}/readyz`)).ok && (await fetch(`${ingest.url}/readyz`)).ok ? true : undefined,
      );

      /** The processor's events so far, by outcome. */
      const outcomes = async () => {
        const values = (await processor.service.metrics.events.get()).values;
        const count = (outcome: string) => values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
        return { applied: count('applied'), duplicate: count('duplicate'), dead_letter: count('dead_letter') };
      };
      /** Waits until the processor applied and committed everything, event time passed `sentUntil`, and the history service committed all it was given. */
      const settle = async (sentUntil: number) => {
        const eventsEnds = await topicEnds([topicNames.events]);
        await until('the processor committed every event', () => committedThrough(processorGroup, eventsEnds), 60_000);
        // Timers due up to the end of the send (none are expected) have fired once event time is past it.
        await until('event time followed the wall clock past the send', async () => {
          const seconds = (await processor.service.metrics.eventTime.get()).values[0]?.value ?? 0;
          return seconds * 1000 > sentUntil ? true : undefined;
        });
        expect((await processor.service.metrics.timersDue.get()).values[0]?.value ?? 0, 'lifecycle checks that fell due').toBe(0);
        const historyEnds = await topicEnds(HISTORY_SOURCES);
        await until('the history service committed everything published', () => committedThrough(historyGroup, historyEnds), 60_000);
        return historyEnds;
      };

      // The workload, as an SDK sends it, then the later visitors.
      const send = async (batchSize: number, clocks: readonly number[]) => [
        ...(await sendAsSdk(ingest.url, WRITE_KEY, messages.slice(0, -later.length), {
          batchSize,
          clockOffsetMs: (request) => clocks[request % clocks.length] as number,
        })),
        ...(await sendAsSdk(ingest.url, WRITE_KEY, later, { batchSize: later.length, clockOffsetMs: () => 0 })),
      ];
      const firstSend = await send(250, FIRST_SEND_CLOCKS);
      const firstSentUntil = Date.now();
      await until('the processor applied the workload', async () => ((await outcomes()).applied >= messages.length ? true : undefined), 60_000);
      const endsAfterFirst = await settle(firstSentUntil);
      expect(await outcomes()).toEqual({ applied: messages.length, duplicate: 0, dead_letter: 0 });

      // Every person is looked up (by user id once signed up, else by first anonymous id); member-events is asked for the
      // 25 busiest members with those merged into them.
      const people = new Map<number, { kind: string; value: string }>();
      for (const e of workload)
        if (e.message.userId) people.set(e.person, { kind: 'user', value: e.message.userId });
        else if (!people.has(e.person) && e.message.anonymousId) people.set(e.person, { kind: 'anon', value: e.message.anonymousId });
      const lookupAt = span.to;
      const lookups = async () => {
        const answers: Record<string, unknown> = {};
        for (const { kind, value } of people.values()) answers[`${kind}:${value}`] = await lookup(processor.url, kind, value, lookupAt);
        return answers;
      };
      const lookupsBefore = await lookups();
      const memberGroups = Object.values(lookupsBefore)
        .map(
          (answer) =>
            (answer as { body: { member?: { memberId: string; counters: { events: Record<string, { count: number }> } }; mergedFrom?: string[] } }).body,
        )
        .filter((body) => body.member !== undefined)
        .sort((a, b) => (b.member?.counters.events['30d']?.count ?? 0) - (a.member?.counters.events['30d']?.count ?? 0))
        .slice(0, 25)
        .map((body) => [body.member?.memberId as string, ...(body.mergedFrom ?? [])]);
      const requests = analysisRequests(span, memberGroups);
      expect(new Set(requests.map(([name]) => name)), 'every analysis of the catalogue is asked').toEqual(new Set(ANALYSES.map((a) => a.name)));
      const analyses = async () => {
        const answers: unknown[] = [];
        for (const [name, request] of requests) answers.push({ name, request, answer: await askHistory(history.url, name, request) });
        return answers;
      };
      const analysesBefore = await analyses();
      expect(
        Object.values(lookupsBefore).filter((a) => (a as { body: { latestEvents?: unknown[] } }).body.latestEvents?.length),
        'lookups carry events read from history',
      ).not.toHaveLength(0);

      await history.service.lifecycle.stop();
      running.delete('history');
      const tablesBefore = await readTables(clickhousePath);
      const timesBefore = await readEventTimes(clickhousePath);

      // Every message is one row, at the client's time, or (beyond the tolerance) at the time ingest corrected it to.
      const firstRequestOf = new Map(firstSend.flatMap((batch: SentBatch) => batch.messages.map((m) => [m.messageId, batch] as const)));
      const wrongTimes: string[] = [];
      for (const message of messages) {
        const stored = timesBefore.get(message.messageId);
        const batch = firstRequestOf.get(message.messageId) as SentBatch;
        const original = Date.parse(message.timestamp);
        if (!stored) {
          wrongTimes.push(`${message.messageId}: not stored`);
          continue;
        }
        const expected = Math.abs(batch.clockOffsetMs) > SKEW_TOLERANCE_MS ? original + (stored.receivedAt - batch.sentAt) : original;
        if (stored.ts !== expected || stored.rows !== 1)
          wrongTimes.push(`${message.messageId} (clock off by ${batch.clockOffsetMs} ms): ts ${stored.ts}, expected ${expected}, ${stored.rows} rows`);
      }
      expect(wrongTimes.slice(0, 5), `${wrongTimes.length} events stored at the wrong time`).toEqual([]);
      expect(tablesBefore.events).toHaveLength(messages.length);
      const ordersBefore = orderTotals(tablesBefore.orders);
      expect(ordersBefore).toEqual({ paid: summary.orders, paidCents: summary.revenueCents, refunded: summary.refunds, refundedCents: summary.refundedCents });
      for (const table of ['identity_changes', 'lifecycle_transitions', 'segment_changes', 'trigger_firings'] as const)
        expect(tablesBefore[table].length, `${table} rows`).toBeGreaterThan(0);

      // The resend: every message again, in new requests with a new sentAt, as an SDK retries.
      history = await startHistory(services.kafkaBrokers, historyEnv);
      running.set('history', () => history.service.lifecycle.stop());
      const eventsMark: PartitionOffsets = await ingest.mark();
      const resend = await send(100, RESEND_CLOCKS);
      const resentUntil = Date.now();
      // Every copy has an outcome (whichever it is: a copy applied again must fail below, not time out here).
      await until(
        'the processor took every copy',
        async () => {
          const { applied, duplicate, dead_letter } = await outcomes();
          return applied + duplicate + dead_letter >= 2 * messages.length ? true : undefined;
        },
        60_000,
      );
      const endsAfterResend = await settle(resentUntil);
      const outcomesAfterResend = await outcomes();
      expect.soft(outcomesAfterResend, 'every copy skipped as a duplicate').toEqual({ applied: messages.length, duplicate: messages.length, dead_letter: 0 });

      // The copies really are new records: new offsets and receive times, and beyond the tolerance a corrected event time.
      const copies: EventRecord[] = await ingest.eventsSince(eventsMark);
      expect(copies).toHaveLength(messages.length);
      expect(new Set(copies.map((c) => c.messageId))).toEqual(new Set(messages.map((m) => m.messageId)));
      const resentIn = new Map(resend.flatMap((batch) => batch.messages.map((m) => [m.messageId, batch] as const)));
      let corrected = 0;
      const unlikeARetry: string[] = [];
      for (const copy of copies) {
        const batch = resentIn.get(copy.messageId) as SentBatch;
        const stored = timesBefore.get(copy.messageId) as { ts: number; receivedAt: number };
        const original = copy.originalTimestamp as number;
        const beyond = Math.abs(batch.clockOffsetMs) > SKEW_TOLERANCE_MS;
        if (beyond) corrected++;
        const expected = beyond ? original + (copy.receivedAt - batch.sentAt) : original;
        if (
          copy.receivedAt <= stored.receivedAt ||
          copy.timestamp !== expected ||
          (beyond && (copy.timestamp === stored.ts || !copy.flags.includes('clock_skew_corrected')))
        )
          unlikeARetry.push(
            `${copy.messageId} (clock off by ${batch.clockOffsetMs} ms): ${JSON.stringify({ ...copy, context: undefined, properties: undefined, traits: undefined })}`,
          );
      }
      expect(unlikeARetry.slice(0, 3), `${unlikeARetry.length} copies not as expected`).toEqual([]);
      expect(corrected).toBeGreaterThan(0);
      expect(corrected).toBeLessThan(copies.length);

      const lookupsAfter = await lookups();
      const analysesAfter = await analyses();
      const rowsWrittenDuringResend = (await history.service.metrics.rowsWritten.get()).values[0]?.value ?? 0;
      await history.service.lifecycle.stop();
      running.delete('history');
      const tablesAfter = await readTables(clickhousePath);

      const orders = orderTotals(tablesAfter.orders);
      const firings = tablesAfter.trigger_firings.map((r) => (JSON.parse(r) as { outcome: string }).outcome);
      const rowCounts = (tables: TableRows) => (Object.keys(TABLES) as TableName[]).map((t) => `${t} ${tables[t].length}`).join(', ');
      console.log(
        [
          `workload  ${messages.length} events (${workload.length} of ${summary.people} people, ${summary.identifiedPeople} signed up, and ${later.length} later visitors), sent twice: ${firstSend.length} + ${resend.length} requests; ${corrected} copies with a corrected event time`,
          `processor applied ${outcomesAfterResend.applied}, duplicate ${outcomesAfterResend.duplicate}, dead letters ${outcomesAfterResend.dead_letter}`,
          `history   events ${tablesAfter.events.length}, orders ${orders.paid} paid (${(orders.paidCents / 100).toFixed(2)}), ${orders.refunded} refunded (${(orders.refundedCents / 100).toFixed(2)}), identity changes ${tablesAfter.identity_changes.length} (${tally(tablesAfter.identity_changes, 'action')})`,
          `outputs   lifecycle transitions ${tablesAfter.lifecycle_transitions.length}, segment changes ${tablesAfter.segment_changes.length}, trigger outcomes ${firings.length} (${firings.filter((o) => o === 'fired').length} fired, ${firings.filter((o) => o === 'held_out').length} held out, ${firings.filter((o) => o === 'suppressed').length} suppressed)`,
          `rows      before the resend: ${rowCounts(tablesBefore)}`,
          `          after the resend:  ${rowCounts(tablesAfter)}; written by history during the resend: ${rowsWrittenDuringResend}`,
          `compared  ${requests.length} analyses, ${people.size} member lookups; ${((Date.now() - started) / 1000).toFixed(1)} s`,
        ].join('\n'),
      );
      // Soft: a failure shows every table, analysis and lookup that changed, not only the first.
      for (const table of Object.keys(TABLES) as TableName[]) {
        const { onlyBefore, onlyAfter } = difference(tablesBefore[table], tablesAfter[table]);
        expect.soft({ gone: onlyBefore.length, added: onlyAfter.length, examples: [...onlyBefore, ...onlyAfter].slice(0, 2) }, `${table} rows`).toEqual({
          gone: 0,
          added: 0,
          examples: [],
        });
      }
      const changedAnalyses = requests
        .filter((_, i) => JSON.stringify(analysesAfter[i]) !== JSON.stringify(analysesBefore[i]))
        .map(([name, r]) => `${name} ${JSON.stringify(r)}`);
      expect.soft(changedAnalyses, 'analyses answered differently').toEqual([]);
      const changedLookups = Object.keys(lookupsBefore).filter((key) => JSON.stringify(lookupsAfter[key]) !== JSON.stringify(lookupsBefore[key]));
      expect.soft(changedLookups, 'member lookups answered differently').toEqual([]);
      // Client retries never reach history: the processors published nothing the history service reads, and it wrote nothing.
      expect.soft(endsAfterResend, 'ends of the topics history reads').toEqual(endsAfterFirst);
      expect.soft(rowsWrittenDuringResend, 'rows written by history during the resend').toBe(0);
    } finally {
      for (const [name, stop] of [...running].reverse()) await stop().catch((error: unknown) => cleanupFailures.push(`stopping ${name}: ${String(error)}`));
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: Object.values(topicNames) }).catch((error: unknown) => cleanupFailures.push(`deleting the topics: ${String(error)}`));
      await admin.disconnect();
      rmSync(clickhousePath, { recursive: true, force: true });
    }
    // Reached only when everything above held: then a service that would not stop is a failure too.
    expect(cleanupFailures).toEqual([]);
  });
});
