import { RFM_GROUPS, type RfmGroup } from '../../schemas/records.ts';
import { DEFAULT_RFM, type RfmConfig } from '../rfm-config.ts';
import { Params } from './filters.ts';
import { byPerson } from './people.ts';

/**
 * The RFM distribution at a moment, from history (docs/analytics.md), with the same
 * definitions as the processors' live scores: R = whole days since the last paid order,
 * F = paid orders and M = paid amount minus refunds over the window (the UTC day of `at`
 * and the windowDays-1 days before), scores 1-5 by thresholds, and the 8 groups.
 */

export interface RfmRequest {
  /** Epoch milliseconds: the moment the scores are taken at. */
  readonly at: number;
  readonly config?: RfmConfig;
}

export interface RfmDistribution {
  /** Members with at least one paid order by `at`. */
  readonly members: number;
  readonly groups: Readonly<Record<RfmGroup, number>>;
  /** [r - 1][f - 1] = members. */
  readonly rByF: readonly (readonly number[])[];
  /** [r - 1][m - 1] = members. */
  readonly rByM: readonly (readonly number[])[];
}

export function rfmSql(request: RfmRequest): { sql: string; params: Record<string, unknown> } {
  const params = new Params();
  const c = request.config ?? DEFAULT_RFM;
  const at = params.bind(request.at, 'Int64');
  const windowDays = params.bind(c.windowDays, 'Int32');
  const recencyLimits = params.bind([...c.recencyDays], 'Array(Float64)');
  const frequencyThresholds = params.bind([...c.frequencyOrders], 'Array(Float64)');
  const monetaryThresholds = params.bind([...c.monetaryAmount], 'Array(Float64)');
  const cut = {
    days: params.bind(c.groupCut.recencyDays, 'Float64'),
    orders: params.bind(c.groupCut.orders, 'Float64'),
    amount: params.bind(c.groupCut.amount, 'Float64'),
  };
  const sql = `
    SELECT
      5 - arrayCount(limit -> recency > limit, ${recencyLimits}) AS r,
      1 + arrayCount(t -> frequency >= t, ${frequencyThresholds}) AS f,
      1 + arrayCount(t -> monetary >= t, ${monetaryThresholds}) AS m,
      concat(if(monetary >= ${cut.amount}, 'important', 'general'), '-',
        multiIf(recency <= ${cut.days} AND frequency >= ${cut.orders}, 'value', recency <= ${cut.days}, 'develop', frequency >= ${cut.orders}, 'keep', 'retain')) AS grp,
      count() AS members
    FROM (
      SELECT member_id,
        intDiv(${at} - maxIf(toUnixTimestamp64Milli(ts), event = 'Order Completed'), 86400000) AS recency,
        countIf(event = 'Order Completed' AND in_window) AS frequency,
        toFloat64(sumIf(if(event = 'Order Completed', total, -total), in_window)) AS monetary
      FROM (
        SELECT member_id, event, ts, total,
          toDate(ts, 'UTC') > toDate(fromUnixTimestamp64Milli(${at}), 'UTC') - ${windowDays} AS in_window
        FROM ${byPerson('events')}
        WHERE event IN ('Order Completed', 'Order Refunded') AND toUnixTimestamp64Milli(ts) <= ${at}
      )
      GROUP BY member_id
      HAVING countIf(event = 'Order Completed') > 0
    )
    GROUP BY r, f, m, grp`;
  return { sql, params: params.values };
}

export function rfmResult(rows: readonly Record<string, unknown>[]): RfmDistribution {
  const groups = Object.fromEntries(RFM_GROUPS.map((g) => [g, 0])) as Record<RfmGroup, number>;
  const grid = () => Array.from({ length: 5 }, () => [0, 0, 0, 0, 0]);
  const rByF = grid();
  const rByM = grid();
  let members = 0;
  for (const row of rows) {
    const n = Number(row.members);
    const [r, f, m] = [Number(row.r), Number(row.f), Number(row.m)];
    members += n;
    groups[row.grp as RfmGroup] += n;
    const byF = rByF[r - 1] as number[];
    const byM = rByM[r - 1] as number[];
    byF[f - 1] = (byF[f - 1] as number) + n;
    byM[m - 1] = (byM[m - 1] as number) + n;
  }
  return { members, groups, rByF, rByM };
}
