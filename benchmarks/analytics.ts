/**
 * Analytics speed on embedded ClickHouse.
 *   ./segstream bench analytics [events] [data directory]
 * Loads the generated shop workload (default 10 million events) into the events table as
 * the processors write it, then times a 4-step funnel over 30 days, 12-week retention,
 * and last-touch plus linear attribution over 30 days (each run three times; the best and
 * the median are printed). Target: each under 1 second. Given a data directory that already
 * holds a loaded events table, it reuses it and only runs the queries.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventRow } from '../history/history-writer.ts';
import { HISTORY_MIGRATIONS } from '../history/migrations.ts';
import { attributionSql } from '../lib/analytics/attribution.ts';
import { funnelSql } from '../lib/analytics/funnel.ts';
import { retentionSql } from '../lib/analytics/retention.ts';
import { EmbeddedWarehouse } from '../lib/warehouse/embedded.ts';
import { applyMigrations } from '../lib/warehouse/migrations.ts';
import { toEventRecord } from '../test/workload/event-record.ts';
import { generateWorkload } from '../test/workload/generator.ts';
import { writeResults } from './results.ts';

const target = Number(process.argv[2] ?? 10_000_000);
const DAY = 86_400_000;
const days = 120;
const start = Date.UTC(2026, 0, 1);
const directory = process.argv[3] ?? mkdtempSync(join(tmpdir(), 'segstream-analytics-bench-'));
const warehouse = await EmbeddedWarehouse.open(directory, 'bench');
await applyMigrations(warehouse, HISTORY_MIGRATIONS);
const [{ existing } = { existing: 0 }] = await warehouse.query<{ existing: number }>('SELECT count() AS existing FROM events');

let loaded = existing > 0 ? target : 0;
let batch: Record<string, unknown>[] = [];
const loadStarted = performance.now();
// ~1.1 events per person-day: people over 120 days to reach the target.
for (const e of loaded >= target ? [] : generateWorkload({ seed: 7, members: Math.ceil(target / (days * 0.93)), days, start })) {
  const record = toEventRecord(e.message, e.at);
  batch.push(eventRow(`m_${e.message.userId ?? e.message.anonymousId}`, record));
  if (batch.length === 200_000) {
    await warehouse.insert('events', batch);
    loaded += batch.length;
    batch = [];
    if (loaded % 2_000_000 === 0) console.log(`loaded ${loaded.toLocaleString('en-US')} events`);
    if (loaded >= target) break;
  }
}
if (batch.length > 0 && loaded < target) {
  await warehouse.insert('events', batch);
  loaded += batch.length;
}
if (existing === 0) await warehouse.command('OPTIMIZE TABLE events FINAL');
// Visitors' anonymous ids merged into the user id they later signed up or logged in with,
// as the processors record merges: analyses map the anonymous member's events to the user.
const [{ merges } = { merges: 0 }] = await warehouse.query<{ merges: number }>("SELECT count() AS merges FROM identity_changes WHERE action = 'merged'");
if (merges === 0)
  await warehouse.command(`
    INSERT INTO identity_changes (action, member_id, kind, identity_hash, other_member_id, at, message_id)
    SELECT 'merged', concat('m_', user_id), '', '', concat('m_', anonymous_id), min(ts), ''
    FROM events WHERE user_id != '' AND anonymous_id != ''
    GROUP BY user_id, anonymous_id`);
const loadSeconds = (performance.now() - loadStarted) / 1000;
const [{ rows, members, merged } = { rows: 0, members: 0, merged: 0 }] = await warehouse.query<{ rows: number; members: number; merged: number }>(
  "SELECT count() AS rows, uniqExact(member_id) AS members, (SELECT count() FROM identity_changes WHERE action = 'merged') AS merged FROM events",
);
console.log(
  existing > 0
    ? `reusing ${rows.toLocaleString('en-US')} events of ${members.toLocaleString('en-US')} members (${merged.toLocaleString('en-US')} merged into others) in ${directory}`
    : `loaded ${rows.toLocaleString('en-US')} events of ${members.toLocaleString('en-US')} members (${merged.toLocaleString('en-US')} merged into others) in ${loadSeconds.toFixed(0)} s (generated, converted and inserted, then merged) into ${directory}`,
);

const from = start + 60 * DAY;
const to = from + 30 * DAY;
const queries = {
  'funnel, 4 steps, 30 days': funnelSql({
    steps: [{ event: 'Product Viewed' }, { event: 'Product Added' }, { event: 'Checkout Started' }, { event: 'Order Completed' }],
    windowSeconds: 86_400,
    order: 'loose',
    from,
    to,
  }),
  'retention, 12 weeks': retentionSql({ period: 'week', periods: 12, from: start, to: start + 28 * DAY, timeZone: 'UTC' }),
  'attribution, last touch + linear, 30 days': attributionSql({ models: ['last_touch', 'linear'], from, to, lookbackDays: 7 }),
};
const timings: Record<string, { bestSeconds: number; medianSeconds: number }> = {};
for (const [name, { sql, params }] of Object.entries(queries)) {
  const seconds: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await warehouse.query(sql, params);
    seconds.push((performance.now() - t) / 1000);
  }
  seconds.sort((a, b) => a - b);
  timings[name] = { bestSeconds: Math.round((seconds[0] as number) * 100) / 100, medianSeconds: Math.round((seconds[1] as number) * 100) / 100 };
  console.log(
    `${name}: best ${timings[name].bestSeconds} s, median ${timings[name].medianSeconds} s ${(seconds[1] as number) < 1 ? '(under 1 s)' : '(target 1 s: NOT met)'}`,
  );
}
await warehouse.close();
console.log(
  `written to ${writeResults('analytics', { events: rows, members, mergedMembers: merged, loadSeconds: existing > 0 ? null : Math.round(loadSeconds), timings })}`,
);
