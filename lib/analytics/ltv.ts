import { Params } from './filters.ts';
import { byPerson } from './people.ts';

/**
 * LTV/CLV per monthly cohort (docs/analytics.md): members grouped by the month (in a time
 * zone) of their first paid order; up to `at`, AOV x monthly purchase frequency x lifespan.
 */

export interface LtvRequest {
  /** Epoch milliseconds: orders and refunds up to this moment count. */
  readonly at: number;
  readonly timeZone: string;
}

export interface LtvCohort {
  /** First day of the cohort month, YYYY-MM-DD. */
  readonly cohort: string;
  readonly members: number;
  readonly orders: number;
  /** Paid amount minus refunds, to the cent. */
  readonly revenue: number;
  /** Calendar months from the cohort's month to the month of `at`, both included. */
  readonly observedMonths: number;
  /** revenue / orders, to the cent. */
  readonly averageOrderValue: number;
  /** orders / members / observedMonths, 4 decimals. */
  readonly monthlyPurchaseFrequency: number;
  /** Mean over members of calendar months from first to last paid order, both included; 4 decimals. */
  readonly lifespanMonths: number;
  /** averageOrderValue x monthlyPurchaseFrequency x lifespanMonths (unrounded inputs), to the cent. */
  readonly ltv: number;
}

export function ltvSql(request: LtvRequest): { sql: string; params: Record<string, unknown> } {
  const params = new Params();
  const zone = params.bind(request.timeZone, 'String');
  const at = params.bind(request.at, 'Int64');
  const sql = `
    SELECT toString(cohort_start) AS cohort, count() AS members, sum(orders) AS orders, toFloat64(sum(revenue)) AS revenue,
      dateDiff('month', cohort_start, toStartOfMonth(toDate(fromUnixTimestamp64Milli(${at}), ${zone}))) + 1 AS observed_months,
      sum(lifespan) AS lifespan_total
    FROM (
      SELECT member_id,
        toStartOfMonth(toDate(minIf(ts, event = 'Order Completed'), ${zone})) AS cohort_start,
        countIf(event = 'Order Completed') AS orders,
        sumIf(total, event = 'Order Completed') - sumIf(total, event = 'Order Refunded') AS revenue,
        dateDiff('month', cohort_start, toStartOfMonth(toDate(maxIf(ts, event = 'Order Completed'), ${zone}))) + 1 AS lifespan
      FROM ${byPerson('events')}
      WHERE event IN ('Order Completed', 'Order Refunded') AND toUnixTimestamp64Milli(ts) <= ${at}
      GROUP BY member_id
      HAVING orders > 0
    )
    GROUP BY cohort_start
    ORDER BY cohort_start`;
  return { sql, params: params.values };
}

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

export function ltvResult(rows: readonly Record<string, unknown>[]): LtvCohort[] {
  return rows.map((row) => {
    const members = Number(row.members);
    const orders = Number(row.orders);
    const revenue = Number(row.revenue);
    const observedMonths = Number(row.observed_months);
    const aov = revenue / orders;
    const frequency = orders / members / observedMonths;
    const lifespan = Number(row.lifespan_total) / members;
    return {
      cohort: String(row.cohort),
      members,
      orders,
      revenue: round(revenue, 2),
      observedMonths,
      averageOrderValue: round(aov, 2),
      monthlyPurchaseFrequency: round(frequency, 4),
      lifespanMonths: round(lifespan, 4),
      ltv: round(aov * frequency * lifespan, 2),
    };
  });
}
