import type { Warehouse } from '../../lib/warehouse/warehouse.ts';

export interface HistoryTotals {
  readonly events: number;
  readonly orders: number;
  readonly revenueCents: number;
  /** Members with a user id. */
  readonly members: number;
  readonly segmentChanges: number;
  readonly triggerFirings: number;
  readonly transitions: number;
}

/** What the processors wrote to the history tables, read with FINAL so a replayed row counts once. */
export async function historyTotals(warehouse: Warehouse): Promise<HistoryTotals> {
  const [events] = await warehouse.query<{ events: number; orders: number; revenue_cents: number; members: number }>(
    `SELECT count() AS events,
            countIf(event = 'Order Completed') AS orders,
            toInt64(round(sumIf(total, event = 'Order Completed') * 100)) AS revenue_cents,
            uniqExactIf(member_id, user_id != '') AS members
     FROM events FINAL`,
  );
  const count = async (table: 'segment_changes' | 'trigger_firings' | 'lifecycle_transitions') =>
    Number((await warehouse.query<{ n: number }>(`SELECT count() AS n FROM ${table} FINAL`))[0]?.n ?? 0);
  return {
    events: Number(events?.events ?? 0),
    orders: Number(events?.orders ?? 0),
    revenueCents: Number(events?.revenue_cents ?? 0),
    members: Number(events?.members ?? 0),
    segmentChanges: await count('segment_changes'),
    triggerFirings: await count('trigger_firings'),
    transitions: await count('lifecycle_transitions'),
  };
}
