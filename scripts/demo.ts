/**
 * The end-to-end demo: a generated shop workload goes through the real services (ingest,
 * processors, rules) and the stack (Kafka, Redis, ClickHouse), and the summary shows what
 * each part saw, checked against the workload. Run through ./segstream demo, which
 * starts the stack first. Each run uses its own Redis key prefix, consumer group and
 * ClickHouse database, so runs do not see each other.
 */
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { topicVars } from '../lib/config/common.ts';
import { loadConfig } from '../lib/config/load.ts';
import { errorMessage } from '../lib/errors.ts';
import { createKafka } from '../lib/kafka/client.ts';
import { loadTopicSetup } from '../lib/kafka/codecs.ts';
import { createLogger } from '../lib/logger.ts';
import { openWarehouse } from '../lib/warehouse/open.ts';
import type { LifecycleTransitionRecord, SegmentChangeRecord, TriggerFiringRecord } from '../schemas/records.ts';
import { allTopics, type Topic } from '../schemas/topics.ts';
import { consumeRange, highWatermarks, type PartitionOffsets } from '../test/harness/read-range.ts';
import { generateWorkload } from '../test/workload/generator.ts';
import { addToSummary, emptySeen, emptySummary } from '../test/workload/summary.ts';
import { demoConfigSchema } from './demo/config.ts';
import { DEMO_RULES } from './demo/demo-rules.ts';
import { historyTotals } from './demo/history-totals.ts';
import { sendWorkload } from './demo/http-workload.ts';
import { type ServiceProcess, startServiceProcess } from './demo/service-process.ts';
import { freePort } from './stack/processes.ts';
import { ensureTopics } from './stack/topics.ts';

const number = (n: number) => n.toLocaleString('en-US');
const money = (centsValue: number) => (centsValue / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const perSecond = (count: number, ms: number) => `${number(Math.round(count / (ms / 1000)))}/s`;
const tally = <T>(items: readonly T[], key: (item: T) => string) =>
  Object.entries(
    items.reduce<Record<string, number>>((counts, item) => {
      counts[key(item)] = (counts[key(item)] ?? 0) + 1;
      return counts;
    }, {}),
  )
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k} ${number(n)}`)
    .join(', ');

/** A lifecycle stage and when it began, as a day and time of the workload (the same on every run with the seed). */
function lifecycleText(lifecycle: { stage: string; since: number } | null, workloadStart: number): string {
  if (!lifecycle) return 'none';
  const since = lifecycle.since - workloadStart;
  return `${lifecycle.stage} since day ${Math.floor(since / 86_400_000)} ${new Date(since).toISOString().slice(11, 19)} UTC`;
}

/** Waits until a consumer group has committed every record of these topics that exists now (10 minutes at most). */
async function historyCaughtUp(kafka: Kafka, groupId: string, topics: readonly Topic<unknown>[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await Promise.all(topics.map(async (t) => [t.name, await highWatermarks(kafka, t.name)] as const));
    const deadline = Date.now() + 10 * 60_000;
    for (;;) {
      const committed = await admin.fetchOffsets({ groupId, topics: topics.map((t) => t.name) });
      const behind = ends.some(([name, highs]) =>
        [...highs].some(([partition, high]) => {
          const offset = committed.find((c) => c.topic === name)?.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
          return high > 0n && BigInt(offset) < high;
        }),
      );
      if (!behind) return;
      if (Date.now() > deadline) throw new Error(`the history service (group ${groupId}) did not catch up within 10 minutes; see .segstream/history.log`);
      await sleep(250);
    }
  } finally {
    await admin.disconnect();
  }
}

/** Sum of a counter in a Prometheus text exposition. */
function metricSum(text: string, name: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

async function main(): Promise<number> {
  const config = loadConfig(demoConfigSchema, process.env);
  const logger = createLogger({ service: 'demo', level: config.LOG_LEVEL });
  const run = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
  // With its own ingest the demo runs on topics of its own, deleted afterwards: services run by hand later
  // do not replay its events. An ingest of the user's (DEMO_INGEST_URL) writes to the configured topics.
  const ownTopics = config.DEMO_INGEST_URL === undefined;
  const topicNames = ownTopics ? demoTopicNames(run) : {};
  const { topics, registry, codecs } = await loadTopicSetup({ ...config, ...topicNames });
  if (ownTopics)
    await ensureTopics(
      config.KAFKA_BROKERS,
      allTopics(topics).map((t) => t.name),
      { partitions: config.KAFKA_PARTITIONS, replicationFactor: -1 },
    );
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID }, logger);
  const database = `demo_${run}`;
  const tokens = { processor: `demo-lookup-${run}`, rules: `demo-rules-${run}`, warehouse: `demo-warehouse-${run}` };
  const env = {
    ...process.env,
    ...topicNames,
    CLICKHOUSE_DATABASE: database,
    REDIS_KEY_PREFIX: `demo${run}:`,
    LOG_LEVEL: 'warn',
    // Ingest's and the processors' (the local stack's env file sets one).
    SEGSTREAM_HMAC_SECRET: process.env.SEGSTREAM_HMAC_SECRET ?? 'demo-secret-not-for-production',
  };
  const services: ServiceProcess[] = [];
  const stopAll = async () => {
    for (const service of services.reverse()) await service.stop();
  };

  try {
    console.log(`segstream demo: seed ${config.DEMO_SEED}, ${number(config.DEMO_MEMBERS)} people over ${config.DEMO_DAYS} days (run ${run})\n`);
    const ports = { ingest: await freePort(), processors: await freePort(), history: await freePort(), rules: await freePort(), query: await freePort() };
    const marks = {
      events: await highWatermarks(kafka, topics.events.name),
      segments: await highWatermarks(kafka, topics.segmentChanges.name),
      triggers: await highWatermarks(kafka, topics.triggers.name),
      lifecycle: await highWatermarks(kafka, topics.lifecycle.name),
    };
    let started = performance.now();
    const ingest = config.DEMO_INGEST_URL
      ? { url: config.DEMO_INGEST_URL, logFile: '(external)', stop: async () => {} }
      : await startServiceProcess(
          'ingest',
          'ingest/main.ts',
          { ...env, INGEST_HOST: '127.0.0.1', INGEST_PORT: String(ports.ingest), INGEST_WRITE_KEYS: `${config.DEMO_WRITE_KEY}=demo` },
          ports.ingest,
          resolve('.segstream/ingest.log'),
        );
    services.push(ingest);
    // History: what the processors publish, written to ClickHouse, which this service owns.
    const historyService = await startServiceProcess(
      'history',
      'history/main.ts',
      {
        ...env,
        HISTORY_HOST: '127.0.0.1',
        HISTORY_PORT: String(ports.history),
        HISTORY_READ_TOKENS: tokens.warehouse,
        HISTORY_GROUP_ID: `segstream-demo-history-${run}`,
        HISTORY_NEW_GROUP_STARTS_AT: 'latest',
      },
      ports.history,
      resolve('.segstream/history.log'),
    );
    services.push(historyService);
    const processors = await startServiceProcess(
      'processors',
      'processors/main.ts',
      {
        ...env,
        PROCESSOR_HOST: '127.0.0.1',
        PROCESSOR_PORT: String(ports.processors),
        PROCESSOR_API_TOKENS: tokens.processor,
        PROCESSOR_HISTORY_URL: historyService.url,
        PROCESSOR_HISTORY_TOKEN: tokens.warehouse,
        PROCESSOR_GROUP_ID: `segstream-demo-${run}`,
        PROCESSOR_NEW_GROUP_STARTS_AT: 'latest',
      },
      ports.processors,
      resolve('.segstream/processors.log'),
    );
    services.push(processors);
    const rules = await startServiceProcess(
      'rules',
      'rules/main.ts',
      {
        ...env,
        RULES_HOST: '127.0.0.1',
        RULES_PORT: String(ports.rules),
        RULES_API_TOKENS: `demo:admin:${tokens.rules}`,
        RULES_PROCESSOR_URL: processors.url,
        RULES_PROCESSOR_TOKEN: tokens.processor,
      },
      ports.rules,
      resolve('.segstream/rules.log'),
    );
    services.push(rules);
    console.log(`services    ingest, history, processors (each joined its consumer group) and rules running in ${seconds(performance.now() - started)}`);

    for (const rule of DEMO_RULES) {
      const response = await fetch(`${rules.url}/rules`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.rules}`, 'content-type': 'application/json' },
        body: JSON.stringify(rule),
      });
      if (response.status !== 201) throw new Error(`creating rule ${rule.id} failed: ${response.status} ${await response.text()}`);
    }
    console.log(`rules       ${DEMO_RULES.map((r) => r.id).join(', ')} created over the rules API`);
    // Every event is evaluated under all of them: the workload goes out once the processors have loaded them.
    const rulesLoadedBy = Date.now() + 30_000;
    while (metricSum(await (await fetch(`${processors.url}/metrics`)).text(), 'segstream_processor_active_rules') < DEMO_RULES.length) {
      if (Date.now() > rulesLoadedBy) throw new Error(`the processors did not load the ${DEMO_RULES.length} demo rules within 30 s`);
      await sleep(50);
    }

    const summary = emptySummary();
    const seen = emptySeen();
    started = performance.now();
    // Placed relative to today, so it never ages past the processors' retention: its days end three weeks ago, as
    // refunds come up to 21 days after their orders, and each day starts at UTC midnight (the same on any day).
    const today = Math.floor(Date.now() / 86_400_000) * 86_400_000;
    const workloadStart = today - (config.DEMO_DAYS + 21) * 86_400_000;
    const horizon = today;
    const workload = generateWorkload({ seed: config.DEMO_SEED, members: config.DEMO_MEMBERS, days: config.DEMO_DAYS, start: workloadStart });
    let sampleUserId: string | undefined;
    const sent = await sendWorkload(ingest.url, config.DEMO_WRITE_KEY, workload, (e) => {
      addToSummary(summary, e, seen);
      if (e.message.event === 'Order Completed' && e.message.userId) sampleUserId ??= e.message.userId;
    });
    const sendMs = performance.now() - started;

    // The processors are done when they have taken every record and the timers are quiet.
    started = performance.now();
    let processed = 0;
    const deadline = Date.now() + 10 * 60_000;
    while (processed < sent.accepted && Date.now() < deadline) {
      await sleep(250);
      processed = metricSum(await (await fetch(`${processors.url}/metrics`)).text(), 'segstream_processor_events_total');
    }
    const processMs = performance.now() - started;
    // Timers fire by event time, which follows the wall clock once nothing has been received for a while: done once
    // it has reached the time processing ended, when every check due before then (three weeks on from the workload) has fired.
    const firedUpTo = Date.now() - 60_000;
    while (Date.now() < deadline) {
      const eventTime = metricSum(await (await fetch(`${processors.url}/metrics`)).text(), 'segstream_processor_event_time_seconds') * 1000;
      if (eventTime >= firedUpTo) break;
      await sleep(250);
    }

    const lookup = await fetch(`${processors.url}/members/lookup?kind=user&value=${encodeURIComponent(sampleUserId ?? '')}&events=3&at=${horizon}`, {
      headers: { authorization: `Bearer ${tokens.processor}` },
    });
    const member = lookup.ok ? ((await lookup.json()) as { member: Record<string, unknown> }).member : null;
    // The query API on the history written so far, while everything runs: with embedded
    // ClickHouse (owned by the history service) it reads through it; with a server, directly.
    const queryService = await startServiceProcess(
      'query',
      'query/main.ts',
      {
        ...env,
        QUERY_HOST: '127.0.0.1',
        QUERY_PORT: String(ports.query),
        QUERY_API_TOKENS: tokens.processor,
        ...(config.CLICKHOUSE_URL ? {} : { QUERY_WAREHOUSE_URL: historyService.url, QUERY_WAREHOUSE_TOKEN: tokens.warehouse }),
      },
      ports.query,
      resolve('.segstream/query.log'),
    );
    const analysis = async (path: string, body: unknown) => {
      const response = await fetch(`${queryService.url}/analyses/${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.processor}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (!response.ok) throw new Error(`query ${path} failed: ${response.status} ${await response.text()}`);
      return response.json();
    };
    const span = { from: summary.firstAt ?? 0, to: (summary.lastAt ?? 0) + 1 };
    const funnel = (await analysis('funnel', {
      steps: [{ event: 'Product Viewed' }, { event: 'Product Added' }, { event: 'Order Completed' }],
      windowSeconds: 86_400,
      ...span,
    })) as { steps: { event: string; members: number; conversionFromFirst: number }[] }[];
    const rfm = (await analysis('rfm', { at: span.to })) as { members: number; groups: Record<string, number> };
    await queryService.stop();
    await rules.stop();
    await processors.stop(); // drains: everything applied published, offsets committed
    const after = {
      segments: await highWatermarks(kafka, topics.segmentChanges.name),
      triggers: await highWatermarks(kafka, topics.triggers.name),
      lifecycle: await highWatermarks(kafka, topics.lifecycle.name),
      events: await highWatermarks(kafka, topics.events.name),
    };
    // The history service is done once it has committed everything published up to now; stopping it releases embedded ClickHouse.
    await historyCaughtUp(kafka, `segstream-demo-history-${run}`, [
      topics.memberEvents,
      topics.identityChanges,
      topics.segmentChanges,
      topics.triggers,
      topics.lifecycle,
    ]);
    await historyService.stop();
    const read = async <V>(topic: Topic<V>, from: PartitionOffsets, to: PartitionOffsets) => {
      const records: V[] = [];
      await consumeRange(kafka, codecs, topic, from, to, async (r) => {
        records.push(r);
      });
      return records;
    };
    const segmentChanges: SegmentChangeRecord[] = await read(topics.segmentChanges, marks.segments, after.segments);
    const firings: TriggerFiringRecord[] = await read(topics.triggers, marks.triggers, after.triggers);
    const transitions: LifecycleTransitionRecord[] = await read(topics.lifecycle, marks.lifecycle, after.lifecycle);
    const distinct = (records: readonly { id: string }[]) => new Set(records.map((r) => r.id)).size;
    const produced = [...after.events].reduce((sum, [p, high]) => sum + Number(high - (marks.events.get(p) ?? 0n)), 0);

    const warehouse = await openWarehouse({ ...config, CLICKHOUSE_DATABASE: database });
    const history = await historyTotals(warehouse);
    await warehouse.command(`DROP DATABASE IF EXISTS ${database}`);
    await warehouse.close();

    const orders = summary.byEvent['Order Completed'] ?? 0;
    console.log(`workload    ${number(summary.events)} events from ${number(summary.people)} people (${number(summary.identifiedPeople)} signed up)`);
    console.log(
      `            ${number(orders)} orders, ${money(summary.revenueCents)} revenue, ${number(summary.refunds)} refunds (${money(summary.refundedCents)})`,
    );
    console.log(
      `ingest      ${number(sent.accepted)} events accepted in ${number(sent.requests)} /v1/batch requests in ${seconds(sendMs)} (${perSecond(sent.accepted, sendMs)}), each acknowledged by Kafka`,
    );
    console.log(
      `kafka       ${number(produced)} records on ${topics.events.name} (${registry.kind} schema registry, id ${codecs.codecFor(topics.events).writerId})`,
    );
    console.log(
      `processors  ${number(processed)} events processed (${seconds(processMs)} after the last was sent); member state in Redis, outputs and history records in Kafka`,
    );
    const republished = segmentChanges.length + firings.length + transitions.length - distinct(segmentChanges) - distinct(firings) - distinct(transitions);
    console.log(`  outputs   ${number(republished)} records published again with the same id (at-least-once; consumers drop them by id)`);
    // Counted once per id and up to a horizon the same on every run of the day: timers due after it depend on when the demo ran.
    const upTo = <R extends { id: string; at: number }>(records: readonly R[]) => [
      ...new Map(records.filter((r) => r.at <= horizon).map((r) => [r.id, r])).values(),
    ];
    console.log(`  horizon   outputs dated up to ${new Date(horizon).toISOString().slice(0, 10)} 00:00 UTC, 21 days after the workload's last day:`);
    console.log(`  lifecycle ${number(upTo(transitions).length)} transitions: ${tally(upTo(transitions), (t) => t.toStage)}`);
    console.log(`  segments  ${number(upTo(segmentChanges).length)} changes: ${tally(upTo(segmentChanges), (c) => `${c.segmentId} ${c.change}`)}`);
    console.log(
      `  triggers  ${number(upTo(firings).length)} outcomes: ${tally(upTo(firings), (f) => `${f.ruleId} ${f.outcome}${f.reason ? `/${f.reason}` : ''}`)}`,
    );
    if (member)
      console.log(
        `  a member  ${sampleUserId}: lifecycle ${lifecycleText(member.lifecycle as { stage: string; since: number }, workloadStart)}, RFM ${JSON.stringify(member.rfm)}, segments ${JSON.stringify((member.segments as { id: string }[]).map((s) => s.id))}`,
      );
    console.log(
      `clickhouse  ${warehouse.kind}, written by the history service (${database}, dropped after the check): ${number(history.events)} events, ${number(history.orders)} orders, ${money(history.revenueCents)} revenue, ${number(history.members)} members, and every output Kafka carried`,
    );

    console.log(
      `query       ${config.CLICKHOUSE_URL ? '' : 'while everything ran, through the history service: '}funnel (1 day): ${(funnel[0]?.steps ?? []).map((st) => `${st.event} ${number(st.members)} (${Math.round(st.conversionFromFirst * 1000) / 10}%)`).join(' -> ')}`,
    );
    console.log(
      `            RFM groups of ${number(rfm.members)} buyers: ${Object.entries(rfm.groups)
        .filter(([, n]) => n > 0)
        .map(([g, n]) => `${g} ${number(n)}`)
        .join(', ')}`,
    );

    // What the workload says the outputs must hold: every person becomes a prospect once, every buyer enters
    // "new" once, enters the buyers segment once and is thanked for the first order once (that trigger has no controls).
    const counted = <R>(records: readonly R[], what: (r: R) => boolean) => records.filter(what).length;
    const expected: [string, number, number][] = [
      ['lifecycle transitions to prospect', counted(upTo(transitions), (t) => t.toStage === 'prospect'), summary.people],
      ['lifecycle transitions to new', counted(upTo(transitions), (t) => t.toStage === 'new'), summary.buyers],
      ['buyers segment entries', counted(upTo(segmentChanges), (c) => c.segmentId === 'buyers' && c.change === 'entered'), summary.buyers],
      ['first-order thanks fired', counted(upTo(firings), (f) => f.ruleId === 'first_order_thanks' && f.outcome === 'fired'), summary.buyers],
    ];
    const mismatches = [
      ...sent.failures.slice(0, 3),
      ...expected.filter(([, found, want]) => found !== want).map(([what, found, want]) => `${what}: ${found}, the workload says ${want}`),
      sent.accepted !== summary.events && `ingest accepted ${sent.accepted} of ${summary.events} events`,
      produced !== summary.events && `Kafka holds ${produced} of ${summary.events} events`,
      processed !== summary.events && `the processors took ${processed} of ${summary.events} events`,
      history.events !== summary.events && `ClickHouse holds ${history.events} of ${summary.events} events`,
      history.orders !== orders && `ClickHouse counts ${history.orders} orders, the workload has ${orders}`,
      history.revenueCents !== summary.revenueCents &&
        `ClickHouse revenue ${money(history.revenueCents)} differs from the workload's ${money(summary.revenueCents)}`,
      history.segmentChanges !== distinct(segmentChanges) && `ClickHouse has ${history.segmentChanges} segment changes, Kafka ${distinct(segmentChanges)}`,
      history.triggerFirings !== distinct(firings) && `ClickHouse has ${history.triggerFirings} trigger outcomes, Kafka ${distinct(firings)}`,
      history.transitions !== distinct(transitions) && `ClickHouse has ${history.transitions} lifecycle transitions, Kafka ${distinct(transitions)}`,
      segmentChanges.length === 0 && 'no segment changes at all',
      funnel[0]?.steps[0]?.members === undefined && 'the funnel found nobody',
      firings.length === 0 && 'no trigger outcomes at all',
    ].filter((m): m is string => typeof m === 'string');
    console.log(
      mismatches.length === 0
        ? `\nresult      every event arrived once, was processed once and is in ClickHouse; outputs in Kafka and ClickHouse agree; totals match the workload to the cent; ${summary.people} prospects, and ${summary.buyers} buyers each new, in the buyers segment and thanked once, as the workload says`
        : `\nresult      MISMATCH: ${mismatches.join('; ')}`,
    );
    console.log('\nlogs: .segstream/ingest.log, .segstream/history.log, .segstream/processors.log, .segstream/rules.log, .segstream/query.log');
    console.log('The local stack keeps running; stop it with: ./segstream stack down');
    return mismatches.length === 0 ? 0 : 1;
  } finally {
    await stopAll();
    if (ownTopics)
      await deleteTopics(
        kafka,
        allTopics(topics).map((t) => t.name),
      );
  }
}

/** Topic names of one demo run: the default names behind a prefix of the run. */
function demoTopicNames(run: string): Record<`KAFKA_TOPIC_${string}`, string> {
  const names: Record<string, string> = {};
  for (const [variable, spec] of Object.entries(topicVars)) names[variable] = `demo-${run}.${spec.defaultValue as string}`;
  return names;
}

async function deleteTopics(kafka: Kafka, names: readonly string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [...names] });
  } finally {
    await admin.disconnect();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`demo failed: ${errorMessage(error)}`);
    process.exit(1);
  },
);
