/**
 * The end-to-end demo: a generated shop workload goes through the real services and
 * stack, and the summary shows what each part saw. Run through ./segstream demo, which
 * starts the stack first.
 */
import { resolve } from 'node:path';
import { loadConfig } from '../lib/config/load.ts';
import { errorMessage } from '../lib/errors.ts';
import { createKafka } from '../lib/kafka/client.ts';
import { loadTopicSetup } from '../lib/kafka/codecs.ts';
import { createLogger } from '../lib/logger.ts';
import { openWarehouse } from '../lib/warehouse/open.ts';
import { consumeRange, highWatermarks } from '../test/harness/read-range.ts';
import { generateWorkload } from '../test/workload/generator.ts';
import { addToSummary, emptySummary } from '../test/workload/summary.ts';
import { demoConfigSchema } from './demo/config.ts';
import { sendWorkload } from './demo/http-workload.ts';
import { startIngestProcess } from './demo/ingest-process.ts';
import { DEMO_TABLE, demoRow, resetDemoTable, warehouseTotals } from './demo/warehouse-load.ts';

const number = (n: number) => n.toLocaleString('en-US');
const money = (centsValue: number) => (centsValue / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const perSecond = (count: number, ms: number) => `${number(Math.round(count / (ms / 1000)))}/s`;

async function main(): Promise<number> {
  const config = loadConfig(demoConfigSchema, process.env);
  const logger = createLogger({ service: 'demo', level: config.LOG_LEVEL });
  const { topics, registry, codecs } = await loadTopicSetup(config);
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID }, logger);
  const warehouse = await openWarehouse(config);
  const ingest = config.DEMO_INGEST_URL
    ? { url: config.DEMO_INGEST_URL, logFile: null, stop: async () => {} }
    : await startIngestProcess(process.env, config.DEMO_WRITE_KEY, resolve('.segstream/ingest.log'));

  try {
    await resetDemoTable(warehouse);
    console.log(`segstream demo: seed ${config.DEMO_SEED}, ${number(config.DEMO_MEMBERS)} people over ${config.DEMO_DAYS} days\n`);

    const summary = emptySummary();
    const seen = { people: new Set<number>(), identified: new Set<number>() };
    const before = await highWatermarks(kafka, topics.events.name);
    let started = performance.now();
    const workload = generateWorkload({ seed: config.DEMO_SEED, members: config.DEMO_MEMBERS, days: config.DEMO_DAYS });
    const sent = await sendWorkload(ingest.url, config.DEMO_WRITE_KEY, workload, (e) => addToSummary(summary, e, seen));
    const sendMs = performance.now() - started;
    const after = await highWatermarks(kafka, topics.events.name);

    started = performance.now();
    let pendingRows: Record<string, unknown>[] = [];
    const consumed = await consumeRange(kafka, codecs, topics.events, before, after, async (record) => {
      pendingRows.push(demoRow(record));
      if (pendingRows.length >= 10_000) {
        await warehouse.insert(DEMO_TABLE, pendingRows);
        pendingRows = [];
      }
    });
    await warehouse.insert(DEMO_TABLE, pendingRows);
    const consumeMs = performance.now() - started;
    const totals = await warehouseTotals(warehouse);

    const orders = summary.byEvent['Order Completed'] ?? 0;
    console.log(`workload    ${number(summary.events)} events from ${number(summary.people)} people (${number(summary.identifiedPeople)} signed up)`);
    console.log(
      `            ${number(orders)} orders, ${money(summary.revenueCents)} revenue, ${number(summary.refunds)} refunds (${money(summary.refundedCents)})`,
    );
    console.log(
      `ingest      ${ingest.url}: ${number(sent.accepted)} events accepted in ${number(sent.requests)} /v1/batch requests in ${seconds(sendMs)} (${perSecond(sent.accepted, sendMs)}), each acknowledged by Kafka (acks=all)`,
    );
    console.log(
      `kafka       read ${number(consumed)} records back from ${topics.events.name} through a consumer group in ${seconds(consumeMs)}, every one decoded (${registry.kind} schema registry, id ${codecs.codecFor(topics.events).writerId})`,
    );
    console.log(
      `clickhouse  ${warehouse.kind} (${warehouse.database}.${DEMO_TABLE}): ${number(totals.rows)} rows, ${number(totals.orders)} orders, ${money(totals.revenueCents)} revenue, ${number(totals.members)} known members`,
    );
    console.log(
      `            by type: ${Object.entries(totals.byType)
        .map(([t, n]) => `${t} ${number(n)}`)
        .join(', ')}`,
    );

    const mismatches = [
      ...sent.failures.slice(0, 3),
      sent.accepted !== summary.events && `ingest accepted ${sent.accepted} of ${summary.events} events`,
      consumed !== summary.events && `Kafka holds ${consumed} of ${summary.events} events`,
      totals.rows !== summary.events && `ClickHouse holds ${totals.rows} of ${summary.events} events`,
      totals.orders !== orders && `ClickHouse counts ${totals.orders} orders, the workload has ${orders}`,
      totals.revenueCents !== summary.revenueCents &&
        `ClickHouse revenue ${money(totals.revenueCents)} differs from the workload's ${money(summary.revenueCents)}`,
    ].filter((m): m is string => typeof m === 'string');
    console.log(
      mismatches.length === 0
        ? '\nresult      every event arrived once and the totals match the workload exactly'
        : `\nresult      MISMATCH: ${mismatches.join('; ')}`,
    );
    if (ingest.logFile) console.log(`\ningest's log: ${ingest.logFile}`);
    console.log('The local stack keeps running; stop it with: ./segstream stack down');
    return mismatches.length === 0 ? 0 : 1;
  } finally {
    await ingest.stop();
    await warehouse.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`demo failed: ${errorMessage(error)}`);
    process.exit(1);
  },
);
