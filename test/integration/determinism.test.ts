import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Admin } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_COUNTERS, DEFAULT_WINDOWS_DAYS } from '../../domain/member/counters.ts';
import type { MemberState } from '../../domain/member/member-state.ts';
import { noOutputs, stepMember } from '../../domain/member/step.ts';
import { keyedHash } from '../../domain/privacy/keyed-hash.ts';
import { createKafka } from '../../lib/kafka/client.ts';
import { createTopicCodecs, type TopicCodecs } from '../../lib/kafka/codecs.ts';
import { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import { createLogger } from '../../lib/logger.ts';
import { RedisPipelineClient } from '../../lib/redis/pipeline-client.ts';
import { createRedis } from '../../lib/redis.ts';
import { compileActiveRules } from '../../lib/rule-store/active-rules.ts';
import { RuleStore } from '../../lib/rule-store/rule-store.ts';
import { EmbeddedWarehouse } from '../../lib/warehouse/embedded.ts';
import { IdentityResolver } from '../../processors/identity/resolver.ts';
import { keysWithPrefix } from '../../processors/store/keys.ts';
import { MemberStore } from '../../processors/store/member-store.ts';
import { loadSchemaCatalog } from '../../schemas/catalog.ts';
import type { EventRecord, LifecycleStage, LifecycleTransitionRecord, SegmentChangeRecord, TriggerFiringRecord } from '../../schemas/records.ts';
import { FileSchemaRegistry } from '../../schemas/schema-registry.ts';
import { buildTopics, DEFAULT_TOPIC_NAMES, eventsTopicKey, type TopicNames, type Topics } from '../../schemas/topics.ts';
import { DEMO_RULES } from '../../scripts/demo/demo-rules.ts';
import { freePort } from '../../scripts/stack/processes.ts';
import { ensureTopics } from '../../scripts/stack/topics.ts';
import { RULE_SETTINGS } from '../harness/processor-state.ts';
import { consumeRange, highWatermarks } from '../harness/read-range.ts';
import { until } from '../harness/until.ts';
import { toEventRecord } from '../workload/event-record.ts';
import { generateWorkload } from '../workload/generator.ts';
import { Random } from '../workload/random.ts';
import type { SegmentMessage } from '../workload/segment-message.ts';

/*
 * Two runs over one log end alike. The log: 90 days of a generated shop (2,100 people,
 * about 203,000 records; DETERMINISM_PEOPLE sets the number of people), with client
 * retries (the same message again, later, at a new offset, with a new sentAt), events
 * out of order (within the allowed lateness), logins that link a
 * device's anonymous events on another partition, and second devices browsing
 * anonymously and then logging in (a merge across partitions). Run A: one processor,
 * slices of 4,000. Run B: three processors, slices of 250, killed with SIGKILL again and
 * again (and one killing itself between its state update and its commit), with clocks
 * three days ahead. Each run has its own topics, Redis keys and history service. Then:
 * every member's state, every output dated up to today and every history table are the
 * same in both, the history holds each message once, and every lifecycle transition is
 * what an event-time simulation of the log written here (not the processors' code) says.
 */

const services = inject('services');
const run = `${Date.now()}`;
const SECRET = 'determinism-test-secret-0123456789';
const PARTITIONS = 8;
const DAY = 86_400_000;
/** Outputs are compared up to here: both runs' clocks are past it, so every check due before it has fired. */
const HORIZON = Math.floor(Date.now() / DAY) * DAY;
/** 90 days of shop, plus the refunds that come up to 21 days after their orders, all before the horizon. */
const START = HORIZON - 112 * DAY;
const LATENESS_MS = 5_000;
const PEOPLE = Number(process.env.DETERMINISM_PEOPLE ?? '2100');
if (!Number.isSafeInteger(PEOPLE) || PEOPLE < 200)
  throw new Error(`DETERMINISM_PEOPLE: expected an integer of at least 200, received ${process.env.DETERMINISM_PEOPLE}`);
const logger = createLogger({ service: 'determinism-test', level: 'fatal' });
const kafka = createKafka({ brokers: services.kafkaBrokers, clientId: 'determinism-test' }, logger);
const redis = createRedis(services.redisUrl);
const children = new Set<ChildProcess>();
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await redis.quit();
});

interface Person {
  userId: string | null;
  /** Anonymous ids of second devices that browsed before logging in (each its own member until then). */
  readonly secondDevices: string[];
}

interface Delivery {
  readonly key: string;
  readonly value: EventRecord;
  readonly person: number;
}

/** A second device: two anonymous views, then the login that merges it into the person's member. */
function secondDevice(random: Random, n: number, userId: string, at: number, timeZone: unknown): SegmentMessage[] {
  const anonymousId = `2nd-${n}-${random.hex(8)}`;
  const context = { library: { name: 'determinism', version: '1' }, timezone: timeZone, device: { id: random.hex(16), type: 'browser' } };
  const time = (ms: number) => new Date(at + ms).toISOString();
  return [
    { type: 'page', messageId: `det-2nd-${n}-a`, timestamp: time(-180_000), anonymousId, name: 'Home', properties: { path: '/' }, context },
    {
      type: 'track',
      messageId: `det-2nd-${n}-b`,
      timestamp: time(-120_000),
      anonymousId,
      event: 'Product Viewed',
      properties: { product_id: `p-2nd-${n}` },
      context,
    },
    { type: 'identify', messageId: `det-2nd-${n}-c`, timestamp: time(-60_000), anonymousId, userId, traits: {}, context },
  ];
}

/** The log as it reaches Kafka, in order, with receive times increasing as ingest gives them. */
function determinismLog(): { deliveries: Delivery[]; people: Map<number, Person> } {
  const random = new Random(`determinism-${run}`);
  const people = new Map<number, Person>();
  const deliveries: Delivery[] = [];
  let receivedAt = 0;
  const deliver = (message: SegmentMessage, person: number) => {
    receivedAt = Math.max(receivedAt + 1, Date.parse(message.timestamp) + 300);
    deliveries.push({ key: eventsTopicKey(message), value: toEventRecord(message, receivedAt), person });
  };
  const retries: { at: number; item: Delivery }[] = [];
  const held: { message: SegmentMessage; person: number }[] = [];
  let devices = 0;
  for (const { message, person, at } of generateWorkload({ seed: 'determinism', members: PEOPLE, days: 90, start: START })) {
    if (at > HORIZON - DAY) continue;
    // Events held back are delivered before the first event more than 3 s after them: late, within the lateness.
    for (let i = held.length - 1; i >= 0; i--) {
      const h = held[i] as (typeof held)[number];
      if (Date.parse(h.message.timestamp) + 3_000 < at) {
        deliver(h.message, h.person);
        held.splice(i, 1);
      }
    }
    while (retries.length > 0 && (retries[0] as (typeof retries)[number]).at <= deliveries.length) {
      // The same message sent again by the SDK: a new request, a new sentAt, received later.
      const { item } = retries.shift() as (typeof retries)[number];
      receivedAt += 1;
      deliveries.push({ ...item, value: { ...item.value, sentAt: receivedAt - 40, receivedAt } });
    }
    const entry = people.get(person) ?? { userId: null, secondDevices: [] };
    people.set(person, entry);
    if (message.userId && entry.userId !== null && entry.secondDevices.length === 0 && random.chance(0.05)) {
      const episode = secondDevice(random, devices++, message.userId, at, message.context?.timezone);
      entry.secondDevices.push((episode[0] as SegmentMessage).anonymousId as string);
      for (const m of episode) deliver(m, person);
    }
    entry.userId ??= message.userId ?? null;
    if (random.chance(0.02)) {
      held.push({ message, person });
      continue;
    }
    deliver(message, person);
    if (random.chance(0.02)) retries.push({ at: deliveries.length + random.int(300, 3_000), item: deliveries.at(-1) as Delivery });
  }
  for (const h of held) deliver(h.message, h.person);
  for (const { item } of retries) {
    receivedAt += 1;
    deliveries.push({ ...item, value: { ...item.value, sentAt: receivedAt - 40, receivedAt } });
  }
  return { deliveries, people };
}

/** Topic names of one run: the shared events topic, and outputs and history records of its own. */
function runTopics(label: string, events: string): TopicNames {
  const names = { ...DEFAULT_TOPIC_NAMES };
  for (const key of Object.keys(names) as (keyof TopicNames)[]) names[key] = `segstream.test.det-${run}-${label}.${DEFAULT_TOPIC_NAMES[key]}`;
  return { ...names, events };
}

const topicEnv = (names: TopicNames) => ({
  KAFKA_TOPIC_EVENTS: names.events,
  KAFKA_TOPIC_SEGMENT_CHANGES: names.segmentChanges,
  KAFKA_TOPIC_TRIGGERS: names.triggers,
  KAFKA_TOPIC_LIFECYCLE: names.lifecycle,
  KAFKA_TOPIC_DLQ: names.deadLetters,
  KAFKA_TOPIC_MEMBER_EVENTS: names.memberEvents,
  KAFKA_TOPIC_IDENTITY_CHANGES: names.identityChanges,
});

const logFile = openSync(join(tmpdir(), `segstream-determinism-${run}.log`), 'a');

function start(entry: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [entry], {
    env: { PATH: process.env.PATH, NODE_OPTIONS: '--disable-warning=TimeoutNegativeWarning', LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', logFile, logFile],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

const stopped = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((resolve) => child.once('exit', () => resolve()));

async function committedFraction(admin: Admin, groupId: string, topic: string, ends: Map<number, bigint>): Promise<number> {
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
  let done = 0n;
  let total = 0n;
  for (const [partition, high] of ends) {
    total += high;
    const committed = BigInt(offsets?.partitions.find((p) => p.partition === partition)?.offset ?? '-1');
    done += committed < 0n ? 0n : committed > high ? high : committed;
  }
  return total === 0n ? 1 : Number(done) / Number(total);
}

/** Outboxes of the run's members that still hold outputs (at most `limit` of them). */
async function nonEmptyOutboxes(prefix: string, limit = Number.POSITIVE_INFINITY): Promise<string[]> {
  const outboxes: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}m:{*}:outbox`, 'COUNT', 1_000);
    for (const key of found) if (outboxes.length < limit && (await redis.llen(key)) > 0) outboxes.push(key);
    cursor = next;
  } while (cursor !== '0' && outboxes.length < limit);
  return outboxes;
}

/** Every timer due up to the horizon fired, and every output is out of the outboxes. */
async function quietUpTo(prefix: string): Promise<true | undefined> {
  const keys = keysWithPrefix(prefix);
  for (let shard = 0; shard < PARTITIONS; shard++) if ((await redis.zcount(keys.timers(shard), '-inf', HORIZON)) > 0) return undefined;
  return (await nonEmptyOutboxes(prefix, 1)).length === 0 ? true : undefined;
}

/** Waits as the harness's until does, every 250 ms, naming the log of the run when it gives up. */
const waitFor = <T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs: number, explain?: () => Promise<string>): Promise<T> =>
  until(what, attempt, timeoutMs, 250, async () => `${explain ? `${await explain()}; ` : ''}see ${join(tmpdir(), `segstream-determinism-${run}.log`)}`);

interface RunSettings {
  readonly label: string;
  readonly replicas: number;
  readonly batchSize: number;
  readonly clockOffsetMs: number;
  /** SIGKILL a replica (and start another) when the committed share of the log passes each of these. */
  readonly killsAt: readonly number[];
  /** Replica 0's chance of killing itself between its state update and its commit. */
  readonly injectedCrashProbability: number;
}

interface RunResult {
  readonly prefix: string;
  readonly names: TopicNames;
  readonly clickhousePath: string;
  readonly kills: number;
  readonly seconds: number;
}

async function runOnce(settings: RunSettings, eventsTopic: string, ends: Map<number, bigint>): Promise<RunResult> {
  const started = Date.now();
  const prefix = `det${run}${settings.label}:`;
  const names = runTopics(settings.label, eventsTopic);
  const group = `det-${run}-${settings.label}`;
  const historyGroup = `det-${run}-${settings.label}-history`;
  const clickhousePath = mkdtempSync(join(tmpdir(), `segstream-det-${settings.label}-`));
  await ensureTopics(
    services.kafkaBrokers,
    Object.values(names).filter((n) => n !== eventsTopic),
    { partitions: PARTITIONS, replicationFactor: -1 },
  );
  const store = new RuleStore(redis, prefix);
  for (const spec of DEMO_RULES)
    await store.write(String(spec.id), 0, { description: '', updatedAt: 0, updatedBy: 'test', ...spec } as never, {
      actor: 'test',
      action: 'create',
      before: null,
      at: 0,
    });

  const history = start('history/main.ts', {
    KAFKA_BROKERS: services.kafkaBrokers.join(','),
    ...topicEnv(names),
    CLICKHOUSE_PATH: clickhousePath,
    CLICKHOUSE_DATABASE: 'det',
    HISTORY_GROUP_ID: historyGroup,
    HISTORY_HOST: '127.0.0.1',
    HISTORY_PORT: String(await freePort()),
    HISTORY_SESSION_TIMEOUT_MS: '6000',
    HISTORY_MAX_AGE_MS: '200',
  });
  const processorEnv = async (replica: number) => ({
    KAFKA_BROKERS: services.kafkaBrokers.join(','),
    ...topicEnv(names),
    REDIS_URL: services.redisUrl,
    REDIS_KEY_PREFIX: prefix,
    PROCESSOR_GROUP_ID: group,
    PROCESSOR_HOST: '127.0.0.1',
    PROCESSOR_PORT: String(await freePort()),
    PROCESSOR_API_TOKENS: 't',
    SEGSTREAM_HMAC_SECRET: SECRET,
    PROCESSOR_BATCH_SIZE: String(settings.batchSize),
    PROCESSOR_SESSION_TIMEOUT_MS: '6000',
    PROCESSOR_REBALANCE_TIMEOUT_MS: '6000',
    PROCESSOR_TIMER_INTERVAL_MS: '200',
    PROCESSOR_COMMIT_INTERVAL_MS: '100',
    PROCESSOR_QUIET_AFTER_MS: '2000',
    PROCESSOR_ALLOWED_LATENESS_MS: String(LATENESS_MS),
    TEST_CLOCK_OFFSET_MS: String(settings.clockOffsetMs),
    PROCESSOR_CRASH_AFTER_STATE_PROBABILITY: replica === 0 ? String(settings.injectedCrashProbability) : '0',
  });
  const replicas: ChildProcess[] = [];
  for (let i = 0; i < settings.replicas; i++) replicas.push(start('test/harness/processor-child.ts', await processorEnv(i)));

  const admin = kafka.admin();
  await admin.connect();
  let kills = 0;
  try {
    // Replicas that died (killed here, or by their own injected crash) are replaced until the log is done.
    const pending = [...settings.killsAt];
    let injectedLeft = settings.injectedCrashProbability > 0 ? 2 : 0;
    await waitFor(
      `run ${settings.label} to commit the whole log`,
      async () => {
        const done = await committedFraction(admin, group, eventsTopic, ends);
        if (pending.length > 0 && done >= (pending[0] as number)) {
          pending.shift();
          const victim = replicas[kills % replicas.length] as ChildProcess;
          victim.kill('SIGKILL');
          await stopped(victim);
        }
        for (let i = 0; i < replicas.length; i++) {
          const replica = replicas[i] as ChildProcess;
          if (replica.exitCode === null && replica.signalCode === null) continue;
          kills++;
          const env = await processorEnv(i);
          // After two injected crashes replica 0 runs without them, so the run finishes.
          if (i === 0 && replica.signalCode === 'SIGKILL' && --injectedLeft <= 0) env.PROCESSOR_CRASH_AFTER_STATE_PROBABILITY = '0';
          replicas[i] = start('test/harness/processor-child.ts', env);
        }
        return done >= 1 ? true : undefined;
      },
      480_000,
      async () =>
        `committed ${Math.round((await committedFraction(admin, group, eventsTopic, ends)) * 1000) / 10}%, progress ${JSON.stringify(await redis.hgetall(keysWithPrefix(prefix).partitions(eventsTopic)))}`,
    );
    await waitFor(
      `run ${settings.label}: timers up to the horizon fired and outputs published`,
      () => quietUpTo(prefix),
      120_000,
      async () => {
        const keys = keysWithPrefix(prefix);
        const due = [];
        for (let shard = 0; shard < PARTITIONS; shard++) due.push(await redis.zrange(keys.timers(shard), '0', '1', 'WITHSCORES'));
        const outboxes = await Promise.all((await nonEmptyOutboxes(prefix)).map(async (key) => `${key}: ${(await redis.lrange(key, 0, 1)).join(' ')}`));
        return `progress ${JSON.stringify(await redis.hgetall(keys.partitions(eventsTopic)))}, first timers ${JSON.stringify(due)}, ${outboxes.length} outboxes not empty: ${outboxes.slice(0, 3).join('; ')}, now ${Date.now()}`;
      },
    );
    for (const replica of replicas) replica.kill('SIGTERM');
    await Promise.all(replicas.map(stopped));
    // The history service has written everything once its group committed every record of its topics.
    const historyTopics = [names.memberEvents, names.identityChanges, names.lifecycle, names.segmentChanges, names.triggers];
    const historyEnds = await Promise.all(historyTopics.map(async (t) => [t, await highWatermarks(kafka, t)] as const));
    await waitFor(
      `run ${settings.label}: history written`,
      async () => {
        for (const [topic, topicEnds] of historyEnds) if ((await committedFraction(admin, historyGroup, topic, topicEnds)) < 1) return undefined;
        return true;
      },
      180_000,
    );
    history.kill('SIGTERM');
    await stopped(history);
  } finally {
    await admin.disconnect();
  }
  return { prefix, names, clickhousePath, kills, seconds: Math.round((Date.now() - started) / 100) / 10 };
}

type Outputs = Map<string, string>;

/** A run's outputs dated up to the horizon, by id (repeats of an id dropped, as consumers do). */
async function outputsOf(
  codecs: TopicCodecs,
  topics: Topics,
): Promise<{ lifecycle: Outputs; segments: Outputs; triggers: Outputs; transitions: LifecycleTransitionRecord[] }> {
  const read = async <R extends { id: string; at: number }>(topic: Topics['lifecycle'] | Topics['segmentChanges'] | Topics['triggers']) => {
    const records: R[] = [];
    await consumeRange(kafka, codecs, topic as never, new Map(), await highWatermarks(kafka, topic.name), async (r) => {
      records.push(r as R);
    });
    return records.filter((r) => r.at <= HORIZON);
  };
  const byId = (records: readonly { id: string }[]) => new Map(records.map((r) => [r.id, JSON.stringify(r)]));
  const transitions = await read<LifecycleTransitionRecord>(topics.lifecycle);
  return {
    lifecycle: byId(transitions),
    segments: byId(await read<SegmentChangeRecord>(topics.segmentChanges)),
    triggers: byId(await read<TriggerFiringRecord>(topics.triggers)),
    transitions: [...new Map(transitions.map((t) => [t.id, t])).values()],
  };
}

function differences(a: Outputs, b: Outputs): string[] {
  const out: string[] = [];
  for (const [id, value] of a) if (b.get(id) !== value) out.push(`A ${value} | B ${b.get(id) ?? 'missing'}`);
  for (const [id, value] of b) if (!a.has(id)) out.push(`only in B: ${value}`);
  return out;
}

/**
 * Each member's state, found by the person's identities, as of `at`: run B's clock is days
 * ahead, so its timers went further; both are brought to the same moment with the one
 * member step (a clock input), as time would bring them. Version (a count of writes) aside.
 */
async function memberStates(prefix: string, people: Map<number, Person>, anonymousOf: Map<number, string>, at: number): Promise<Map<number, MemberState>> {
  const memberRedis = new RedisPipelineClient(services.redisUrl);
  try {
    const keys = keysWithPrefix(prefix);
    const resolver = new IdentityResolver(memberRedis, keys, keyedHash(SECRET), []);
    const store = new MemberStore(memberRedis, keys);
    const rules = new RuleStore(redis, prefix);
    const environment = { counters: DEFAULT_COUNTERS.map((c) => c.name), windowsDays: DEFAULT_WINDOWS_DAYS, computedTraits: new Map() };
    const context = { rules: compileActiveRules(await rules.revision(), await rules.list(), environment).ruleSet, settings: RULE_SETTINGS };
    const states = new Map<number, MemberState>();
    for (const [person, { userId }] of people) {
      const memberId = userId ? await resolver.memberOf('user', userId) : await resolver.memberOf('anon', anonymousOf.get(person) as string);
      if (!memberId) continue;
      const loaded = (await store.load([{ memberId, messageIds: [] }])).get(memberId);
      if (!loaded) continue;
      const member = { state: loaded.state, known: loaded.known, outputs: noOutputs() };
      stepMember(member, { kind: 'clock', until: at }, context);
      states.set(person, { ...member.state, version: 0 });
    }
    return states;
  } finally {
    memberRedis.close();
  }
}

/** What a history table holds, row by row, FINAL (output tables up to the horizon). */
async function historyTables(path: string): Promise<Record<string, string[]>> {
  const warehouse = await EmbeddedWarehouse.open(path, 'det');
  try {
    const tables: Record<string, string> = {
      events: 'SELECT member_id, message_id, type, event, ts, received_at, order_id, total, properties, traits FROM events FINAL ORDER BY message_id',
      orders: 'SELECT * FROM orders FINAL ORDER BY message_id',
      identity_changes: 'SELECT * FROM identity_changes FINAL ORDER BY message_id, action, kind, identity_hash',
      lifecycle_transitions: `SELECT * FROM lifecycle_transitions FINAL WHERE at <= fromUnixTimestamp64Milli(${HORIZON}) ORDER BY id`,
      segment_changes: `SELECT * FROM segment_changes FINAL WHERE at <= fromUnixTimestamp64Milli(${HORIZON}) ORDER BY id`,
      trigger_firings: `SELECT * FROM trigger_firings FINAL WHERE at <= fromUnixTimestamp64Milli(${HORIZON}) ORDER BY id`,
    };
    const rows: Record<string, string[]> = {};
    for (const [name, sql] of Object.entries(tables)) rows[name] = (await warehouse.query(sql)).map((r) => JSON.stringify(r));
    return rows;
  } finally {
    await warehouse.close();
  }
}

/*
 * The lifecycle by event time, written anew from docs/processors.md: checks fall due 1 ms
 * after an order leaves the 30- or 60-day windows and fire before the member's next event
 * at their own time; an order is evaluated at the later of its time and the last
 * evaluation; a member's first event makes it a prospect.
 */
interface Transition {
  readonly from: LifecycleStage | null;
  readonly to: LifecycleStage;
  readonly at: number;
}

function stageAt(orders: readonly number[], previous: LifecycleStage | null, at: number): LifecycleStage {
  const past = orders.filter((o) => o <= at);
  if (past.length === 0) return 'prospect';
  const last = Math.max(...past);
  const first = Math.min(...past);
  if (at - last > 60 * DAY) return 'churned';
  if (at - last > 30 * DAY) return 'silent';
  const thisWindow = past.filter((o) => o > at - 30 * DAY).length;
  const windowBefore = past.filter((o) => o > at - 60 * DAY && o <= at - 30 * DAY).length;
  if (previous === 'silent' || previous === 'churned') return 'reactivated';
  if (previous === 'reactivated' && thisWindow < 2) return 'reactivated';
  if (first > at - 30 * DAY && thisWindow < 2) return 'new';
  if (thisWindow < windowBefore) return 'declining';
  if (thisWindow >= 2) return 'active';
  return previous ?? 'new';
}

function simulateLifecycle(events: readonly EventRecord[]): Transition[] {
  const transitions: Transition[] = [];
  const orders: number[] = [];
  let stage: LifecycleStage | null = null;
  let evaluatedAt = Number.NEGATIVE_INFINITY;
  let nextCheck: number | null = null;
  const evaluate = (at: number) => {
    const next = stageAt(orders, stage, at);
    if (next !== stage) transitions.push({ from: stage, to: next, at });
    stage = next;
    evaluatedAt = at;
    const due = orders.flatMap((o) => [o + 30 * DAY + 1, o + 60 * DAY + 1]).filter((d) => d > at);
    nextCheck = due.length > 0 ? Math.min(...due) : null;
  };
  const advance = (until: number) => {
    while (nextCheck !== null && nextCheck <= until) evaluate(nextCheck);
  };
  for (const event of events) {
    advance(event.timestamp);
    const order = event.type === 'track' && event.event === 'Order Completed';
    if (order) orders.push(event.timestamp);
    if (order || stage === null) evaluate(Math.max(event.timestamp, evaluatedAt));
  }
  advance(HORIZON);
  return transitions;
}

describe('determinism (needs Kafka, Redis, ClickHouse)', () => {
  it('gives the same state, outputs and history from one processor with large slices and from three with small ones, killed and days ahead', {
    timeout: 900_000,
  }, async () => {
    const { deliveries, people } = determinismLog();
    const distinct = new Map<string, Delivery>();
    for (const d of deliveries) if (!distinct.has(d.value.messageId)) distinct.set(d.value.messageId, d);
    const anonymousOf = new Map<number, string>();
    for (const { value, person } of distinct.values()) if (value.anonymousId && !anonymousOf.has(person)) anonymousOf.set(person, value.anonymousId);
    expect(deliveries.length).toBeGreaterThanOrEqual(80 * PEOPLE);

    const eventsTopic = `segstream.test.det-${run}-events`;
    await ensureTopics(services.kafkaBrokers, [eventsTopic], { partitions: PARTITIONS, replicationFactor: -1 });
    const catalog = await loadSchemaCatalog();
    const topicsA = buildTopics(runTopics('A', eventsTopic), catalog);
    const topicsB = buildTopics(runTopics('B', eventsTopic), catalog);
    const codecs = await createTopicCodecs(new FileSchemaRegistry(catalog), topicsA);
    const codecsB = await createTopicCodecs(new FileSchemaRegistry(catalog), topicsB);
    const producer = new TopicProducer({ brokers: services.kafkaBrokers, clientId: 'determinism-test' }, codecs);
    await producer.connect();
    for (let i = 0; i < deliveries.length; i += 5_000) await producer.send(topicsA.events, deliveries.slice(i, i + 5_000));
    await producer.disconnect();
    const ends = await highWatermarks(kafka, eventsTopic);

    const a = await runOnce({ label: 'A', replicas: 1, batchSize: 4_000, clockOffsetMs: 0, killsAt: [], injectedCrashProbability: 0 }, eventsTopic, ends);
    const b = await runOnce(
      { label: 'B', replicas: 3, batchSize: 250, clockOffsetMs: 3 * DAY, killsAt: [0.15, 0.4, 0.65], injectedCrashProbability: 0.02 },
      eventsTopic,
      ends,
    );

    // Member state, person by person.
    const common = Date.now() + 4 * DAY;
    const statesA = await memberStates(a.prefix, people, anonymousOf, common);
    const statesB = await memberStates(b.prefix, people, anonymousOf, common);
    const stateMismatches = [...people.keys()].filter((p) => JSON.stringify(statesA.get(p)) !== JSON.stringify(statesB.get(p)));

    // Outputs, by id.
    const outputsA = await outputsOf(codecs, topicsA);
    const outputsB = await outputsOf(codecsB, topicsB);
    const outputMismatches = [
      ...differences(outputsA.lifecycle, outputsB.lifecycle),
      ...differences(outputsA.segments, outputsB.segments),
      ...differences(outputsA.triggers, outputsB.triggers),
    ];

    // History, table by table; each message once.
    const historyA = await historyTables(a.clickhousePath);
    const historyB = await historyTables(b.clickhousePath);
    const historyMismatches = Object.keys(historyA)
      .filter((t) => JSON.stringify(historyA[t]) !== JSON.stringify(historyB[t]))
      .map((t) => {
        const rowsB = new Set(historyB[t]);
        const rowsA = new Set(historyA[t]);
        return `${t}: only in A ${historyA[t]?.filter((r) => !rowsB.has(r)).slice(0, 2)}; only in B ${historyB[t]?.filter((r) => !rowsA.has(r)).slice(0, 2)}`;
      });

    // Lifecycle transitions against the simulation, person by person (a second device's member is a prospect until it merges).
    const personOfMember = new Map<string, number>();
    for (const [person, state] of statesA) for (const id of [state.memberId, ...state.mergedFrom]) personOfMember.set(id, person);
    const actual = new Map<number, string[]>();
    for (const t of outputsA.transitions) {
      const person = personOfMember.get(t.memberId) ?? -1;
      actual.set(person, [...(actual.get(person) ?? []), `${t.fromStage ?? '-'}>${t.toStage}@${t.at}`]);
    }
    const eventsOf = new Map<number, EventRecord[]>();
    const secondDeviceFirst = new Map<string, number>();
    for (const { value, person } of distinct.values()) {
      const device = (people.get(person) as Person).secondDevices.includes(value.anonymousId ?? '') && !value.userId;
      if (device) secondDeviceFirst.set(value.anonymousId as string, secondDeviceFirst.get(value.anonymousId as string) ?? value.timestamp);
      else eventsOf.set(person, [...(eventsOf.get(person) ?? []), value]);
    }
    const lifecycleMismatches: string[] = [];
    for (const [person, events] of eventsOf) {
      const expected = [
        ...simulateLifecycle(events).map((t) => `${t.from ?? '-'}>${t.to}@${t.at}`),
        ...(people.get(person) as Person).secondDevices.map((d) => `->prospect@${secondDeviceFirst.get(d)}`),
      ].sort();
      const got = [...(actual.get(person) ?? [])].sort();
      if (JSON.stringify(got) !== JSON.stringify(expected)) lifecycleMismatches.push(`person ${person}: expected ${expected.join(' ')}, got ${got.join(' ')}`);
    }

    const merges = [...statesA.values()].reduce((sum, s) => sum + s.mergedFrom.length, 0);
    console.log(
      `[determinism] ${deliveries.length} records (${distinct.size} messages, ${deliveries.length - distinct.size} retries), ${people.size} people, ${merges} merges; ` +
        `run A ${a.seconds} s; run B ${b.seconds} s with ${b.kills} kills; ` +
        `${outputsA.lifecycle.size} transitions, ${outputsA.segments.size} segment changes, ${outputsA.triggers.size} trigger outcomes up to the horizon; ` +
        `history ${historyA.events?.length} events, ${historyA.orders?.length} orders; mismatches: state ${stateMismatches.length}, outputs ${outputMismatches.length}, ` +
        `history ${historyMismatches.length}, lifecycle ${lifecycleMismatches.length}`,
    );
    expect(stateMismatches.slice(0, 3).map((p) => `person ${p}: A ${JSON.stringify(statesA.get(p))} B ${JSON.stringify(statesB.get(p))}`)).toEqual([]);
    expect(outputMismatches.slice(0, 5)).toEqual([]);
    expect(historyMismatches.map((m) => m.slice(0, 1_500))).toEqual([]);
    expect(historyA.events).toHaveLength(distinct.size);
    expect(historyA.lifecycle_transitions).toHaveLength(outputsA.lifecycle.size);
    expect(lifecycleMismatches.slice(0, 5)).toEqual([]);
    expect(merges).toBeGreaterThan(20);
    expect(b.kills).toBeGreaterThanOrEqual(3);
  });
});
