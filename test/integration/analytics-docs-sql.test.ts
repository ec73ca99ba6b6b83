import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HistoryWriter } from '../../history/history-writer.ts';
import type { Warehouse } from '../../lib/warehouse/warehouse.ts';
import type { LifecycleTransitionRecord, SegmentChangeRecord, TriggerFiringRecord } from '../../schemas/records.ts';
import { historyWarehouse } from '../harness/history-warehouse.ts';
import { toEventRecord } from '../workload/event-record.ts';
import { generateWorkload } from '../workload/generator.ts';

/* Every example query in docs/analytics.md runs on the history tables and returns rows. */

const DAY = 86_400_000;
const START = Date.UTC(2026, 0, 1);
const examples = [...readFileSync(new URL('../../docs/analytics.md', import.meta.url), 'utf8').matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1] as string);

let warehouse: Warehouse;
beforeAll(async () => {
  warehouse = await historyWarehouse('docs-sql');
  const events = [...generateWorkload({ seed: 'docs', members: 400, days: 120, start: START })].map((e) => {
    const record = toEventRecord(e.message, e.at);
    return { memberId: `m_${record.userId ?? record.anonymousId}`, event: record };
  });
  const buyers = [...new Set(events.filter((e) => e.event.event === 'Order Completed').map((e) => e.memberId))];
  const at = (i: number) => START + 60 * DAY + i * 3_600_000;
  const triggerFirings: TriggerFiringRecord[] = buyers.map((memberId, i) => ({
    id: `f${i}`,
    memberId,
    ruleId: 'winback',
    ruleVersion: 1,
    outcome: i % 5 === 0 ? 'held_out' : 'fired',
    reason: i % 5 === 0 ? 'holdout' : null,
    at: at(i),
    causeEventId: null,
    businessLine: null,
    values: '{}',
  }));
  const transitions: LifecycleTransitionRecord[] = buyers.map((memberId, i) => ({
    id: `l${i}`,
    memberId,
    fromStage: null,
    toStage: i % 2 ? 'new' : 'silent',
    at: at(i),
    causeEventId: null,
    reason: 'test',
  }));
  const segmentChanges: SegmentChangeRecord[] = buyers.map((memberId, i) => ({
    id: `s${i}`,
    memberId,
    segmentId: 'buyers',
    ruleVersion: 1,
    change: 'entered',
    at: at(i),
    causeEventId: null,
    values: '{}',
  }));
  const identityChanges = [
    { action: 'merged' as const, memberId: buyers[0] as string, kind: '', identityHash: '', otherMemberId: 'm_anonymous', at: at(0), messageId: 'x' },
  ];
  await new HistoryWriter(warehouse).write({ events, identityChanges, transitions, segmentChanges, triggerFirings });
}, 120_000);
afterAll(() => warehouse.close());

describe('the example SQL in docs/analytics.md (needs ClickHouse: a server when the harness has one, else embedded)', () => {
  it('has an example for each analysis', () => expect(examples.length).toBeGreaterThanOrEqual(11));
  for (const [i, sql] of examples.entries())
    it(`example ${i + 1}: ${sql.split('\n')[0]}`, async () => {
      const rows = await warehouse.query(sql);
      expect(rows.length).toBeGreaterThan(0);
    });
});
