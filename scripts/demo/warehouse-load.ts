import { clickhouseDateTime, type Warehouse } from '../../lib/warehouse/warehouse.ts';
import type { EventRecord } from '../../schemas/records.ts';

/**
 * A plain landing table for the demo's round trip. The engine's own history tables come
 * with the processors (see docs/design.md); this one only shows the warehouse path.
 */
export const DEMO_TABLE = 'demo_events';

export async function resetDemoTable(warehouse: Warehouse): Promise<void> {
  await warehouse.command(`CREATE TABLE IF NOT EXISTS ${DEMO_TABLE} (
    message_id String,
    type LowCardinality(String),
    event LowCardinality(String),
    user_id String,
    anonymous_id String,
    ts DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    properties String,
    source LowCardinality(String)
  ) ENGINE = MergeTree ORDER BY (ts, message_id)`);
  await warehouse.command(`TRUNCATE TABLE ${DEMO_TABLE}`);
}

export function demoRow(record: EventRecord): Record<string, unknown> {
  return {
    message_id: record.messageId,
    type: record.type,
    event: record.event ?? '',
    user_id: record.userId ?? '',
    anonymous_id: record.anonymousId ?? '',
    ts: clickhouseDateTime(record.timestamp),
    received_at: clickhouseDateTime(record.receivedAt),
    properties: record.properties,
    source: record.source,
  };
}

export interface WarehouseTotals {
  readonly rows: number;
  readonly byType: Record<string, number>;
  readonly orders: number;
  readonly revenueCents: number;
  readonly members: number;
}

export async function warehouseTotals(warehouse: Warehouse): Promise<WarehouseTotals> {
  const byTypeRows = await warehouse.query<{ type: string; n: number }>(`SELECT type, count() AS n FROM ${DEMO_TABLE} GROUP BY type ORDER BY n DESC`);
  const [totals] = await warehouse.query<{ rows: number; orders: number; revenue_cents: number; members: number }>(
    `SELECT count() AS rows,
            countIf(event = 'Order Completed') AS orders,
            sumIf(toInt64(round(JSONExtractFloat(properties, 'total') * 100)), event = 'Order Completed') AS revenue_cents,
            uniqExactIf(user_id, user_id != '') AS members
     FROM ${DEMO_TABLE}`,
  );
  return {
    rows: totals?.rows ?? 0,
    byType: Object.fromEntries(byTypeRows.map((r) => [r.type, r.n])),
    orders: totals?.orders ?? 0,
    revenueCents: totals?.revenue_cents ?? 0,
    members: totals?.members ?? 0,
  };
}
