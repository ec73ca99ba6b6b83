import { propertyMoneySql } from '../warehouse/warehouse.ts';
import { Params } from './filters.ts';
import { byPerson } from './people.ts';

/**
 * Campaign report for one trigger rule (docs/analytics.md defines every figure):
 * - the audience is every member with an outcome of the rule in [from, to); a member who
 *   fired at least once is **treated** from its first firing, otherwise one held out is
 *   in the **holdout** group from its first held-out outcome;
 * - a member **converts** with a paid order in (start, start + N days]; revenue there is
 *   paid amounts minus refunds in the same interval;
 * - the campaign's coupons are those a treated member received in [start, start + N days];
 *   one is redeemed when a "Coupon Redeemed" with its coupon_id falls in that interval,
 *   and its cost is that event's discount;
 * - average order value before is over paid orders in [start - N days, start), after over
 *   those in (start, start + N days];
 * - recall: treated members whose lifecycle stage at start (their last transition at or
 *   before it) was silent or churned, and how many of them were reactivated in
 *   (start, start + N days].
 */

export interface CampaignRequest {
  readonly ruleId: string;
  /** Epoch milliseconds; outcomes in [from, to). */
  readonly from: number;
  readonly to: number;
  /** Days after (and before) each member's start that count. */
  readonly days: number;
}

export interface GroupResult {
  readonly members: number;
  readonly converted: number;
  /** Fractions to 4 decimals. */
  readonly conversionRate: number;
  readonly orders: number;
  /** Money to the cent. */
  readonly revenue: number;
  readonly revenuePerMember: number;
}

export interface CampaignReport {
  readonly ruleId: string;
  /** Members with any outcome of the rule in the range. */
  readonly targeted: number;
  /** Fired members / targeted members. */
  readonly reachRate: number;
  readonly suppressed: readonly { readonly reason: string; readonly members: number; readonly outcomes: number }[];
  /** Members whose outcome was deferred (quiet hours) at least once; they also appear under their later outcome. */
  readonly deferred: number;
  readonly treated: GroupResult;
  readonly holdout: GroupResult;
  /** Relative lift of the treated group over the holdout: (treated - holdout) / holdout; null when the holdout's figure is 0. */
  readonly lift: { readonly conversionRate: number | null; readonly revenuePerMember: number | null };
  readonly coupons: { readonly received: number; readonly redeemed: number; readonly redemptionRate: number; readonly cost: number };
  /** Treated members' average paid order value before and after their start; null without orders. */
  readonly averageOrderValue: { readonly before: number | null; readonly after: number | null };
  readonly recall: { readonly silentMembers: number; readonly reactivated: number; readonly rate: number };
}

export function campaignSql(request: CampaignRequest): { sql: string; params: Record<string, unknown> } {
  const params = new Params();
  const rule = params.bind(request.ruleId, 'String');
  const from = params.bind(request.from, 'Int64');
  const to = params.bind(request.to, 'Int64');
  const window = params.bind(request.days * 86_400_000, 'Int64');
  const after = 't > start AND t <= start + window_ms';
  const during = 't >= start AND t <= start + window_ms';
  const sql = `
    WITH ${window} AS window_ms,
    firings AS (
      SELECT member_id, outcome, reason, toUnixTimestamp64Milli(at) AS t
      FROM ${byPerson('trigger_firings')}
      WHERE rule_id = ${rule} AND at >= fromUnixTimestamp64Milli(${from}) AND at < fromUnixTimestamp64Milli(${to})
    ),
    groups AS (
      SELECT member_id,
        countIf(outcome = 'fired') > 0 AS treated,
        NOT treated AND countIf(outcome = 'held_out') > 0 AS control,
        if(treated, minIf(t, outcome = 'fired'), minIf(t, outcome = 'held_out')) AS start
      FROM firings
      GROUP BY member_id
      HAVING treated OR control
    ),
    order_stats AS (
      SELECT member_id,
        countIf(kind = 'paid' AND ${after}) AS orders_after,
        sumIf(amount, kind = 'paid' AND ${after}) AS paid_after,
        sumIf(amount, kind = 'refunded' AND ${after}) AS refunded_after,
        countIf(kind = 'paid' AND t >= start - window_ms AND t < start) AS orders_before,
        sumIf(amount, kind = 'paid' AND t >= start - window_ms AND t < start) AS paid_before
      FROM (
        SELECT member_id, kind, amount, toUnixTimestamp64Milli(at) AS t FROM ${byPerson('orders')}
        WHERE member_id IN (SELECT member_id FROM groups)
          AND at >= fromUnixTimestamp64Milli(${from} - window_ms) AND at <= fromUnixTimestamp64Milli(${to} + window_ms)
      ) AS o
      INNER JOIN groups AS g USING member_id
      GROUP BY member_id
    ),
    coupon_stats AS (
      SELECT member_id, countIf(received) AS coupons_received, countIf(received AND redeemed) AS coupons_redeemed,
        sumIf(cost, received AND redeemed) AS coupon_cost
      FROM (
        SELECT member_id, coupon_id,
          countIf(event = 'Coupon Received' AND ${during}) > 0 AS received,
          countIf(event = 'Coupon Redeemed' AND ${during}) > 0 AS redeemed,
          maxIf(discount, event = 'Coupon Redeemed' AND ${during}) AS cost
        FROM (
          SELECT member_id, event, JSONExtractString(properties, 'coupon_id') AS coupon_id,
            ${propertyMoneySql('discount')} AS discount,
            toUnixTimestamp64Milli(ts) AS t
          FROM ${byPerson('events')}
          WHERE member_id IN (SELECT member_id FROM groups WHERE treated) AND event IN ('Coupon Received', 'Coupon Redeemed')
            AND ts >= fromUnixTimestamp64Milli(${from}) AND ts <= fromUnixTimestamp64Milli(${to} + window_ms)
        ) AS c
        INNER JOIN groups AS g USING member_id
        WHERE coupon_id != ''
        GROUP BY member_id, coupon_id
      )
      GROUP BY member_id
    ),
    recall AS (
      SELECT member_id,
        argMaxIf(to_stage, (t, id), t <= start) AS stage_at_start,
        countIf(to_stage = 'reactivated' AND ${after}) > 0 AS reactivated
      FROM (
        SELECT member_id, id, to_stage, toUnixTimestamp64Milli(at) AS t FROM lifecycle_transitions FINAL
        WHERE member_id IN (SELECT member_id FROM groups WHERE treated) AND at <= fromUnixTimestamp64Milli(${to} + window_ms)
      ) AS l
      INNER JOIN groups AS g USING member_id
      GROUP BY member_id
    )
    SELECT
      (SELECT uniqExact(member_id) FROM firings) AS targeted,
      (SELECT uniqExactIf(member_id, outcome = 'fired') FROM firings) AS fired,
      (SELECT uniqExactIf(member_id, outcome = 'deferred') FROM firings) AS deferred,
      (SELECT groupArray((reason, members, outcomes)) FROM (
        SELECT reason, uniqExact(member_id) AS members, count() AS outcomes FROM firings WHERE outcome = 'suppressed' GROUP BY reason ORDER BY reason
      )) AS suppressed,
      countIf(treated) AS treated_members,
      countIf(treated AND orders_after > 0) AS treated_converted,
      sumIf(orders_after, treated) AS treated_orders,
      toFloat64(sumIf(paid_after - refunded_after, treated)) AS treated_revenue,
      countIf(control) AS control_members,
      countIf(control AND orders_after > 0) AS control_converted,
      sumIf(orders_after, control) AS control_orders,
      toFloat64(sumIf(paid_after - refunded_after, control)) AS control_revenue,
      sumIf(orders_before, treated) AS treated_orders_before,
      toFloat64(sumIf(paid_before, treated)) AS treated_paid_before,
      toFloat64(sumIf(paid_after, treated)) AS treated_paid_after,
      sum(coupons_received) AS all_coupons_received,
      sum(coupons_redeemed) AS all_coupons_redeemed,
      toFloat64(sum(coupon_cost)) AS all_coupon_cost,
      countIf(treated AND stage_at_start IN ('silent', 'churned')) AS silent_members,
      countIf(treated AND stage_at_start IN ('silent', 'churned') AND reactivated) AS recalled
    FROM groups
    LEFT JOIN order_stats USING member_id
    LEFT JOIN coupon_stats USING member_id
    LEFT JOIN recall USING member_id`;
  return { sql, params: params.values };
}

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;
const ratio = (part: number, whole: number, digits: number) => (whole === 0 ? 0 : round(part / whole, digits));
const lift = (treated: number, control: number) => (control === 0 ? null : round((treated - control) / control, 4));

function group(row: Record<string, unknown>, prefix: 'treated' | 'control'): GroupResult {
  const members = Number(row[`${prefix}_members`]);
  const converted = Number(row[`${prefix}_converted`]);
  const revenue = Number(row[`${prefix}_revenue`]);
  return {
    members,
    converted,
    conversionRate: ratio(converted, members, 4),
    orders: Number(row[`${prefix}_orders`]),
    revenue: round(revenue, 2),
    revenuePerMember: ratio(revenue, members, 2),
  };
}

export function campaignResult(request: CampaignRequest, rows: readonly Record<string, unknown>[]): CampaignReport {
  const row = rows[0] ?? {};
  const targeted = Number(row.targeted ?? 0);
  const treated = group(row, 'treated');
  const holdout = group(row, 'control');
  const rateOf = (g: GroupResult) => (g.members === 0 ? 0 : g.converted / g.members);
  const perMember = (g: GroupResult) => (g.members === 0 ? 0 : g.revenue / g.members);
  const ordersBefore = Number(row.treated_orders_before ?? 0);
  const received = Number(row.all_coupons_received ?? 0);
  const redeemed = Number(row.all_coupons_redeemed ?? 0);
  const silentMembers = Number(row.silent_members ?? 0);
  const reactivated = Number(row.recalled ?? 0);
  return {
    ruleId: request.ruleId,
    targeted,
    reachRate: ratio(Number(row.fired ?? 0), targeted, 4),
    suppressed: ((row.suppressed ?? []) as [string, unknown, unknown][]).map(([reason, members, outcomes]) => ({
      reason,
      members: Number(members),
      outcomes: Number(outcomes),
    })),
    deferred: Number(row.deferred ?? 0),
    treated,
    holdout,
    lift: { conversionRate: lift(rateOf(treated), rateOf(holdout)), revenuePerMember: lift(perMember(treated), perMember(holdout)) },
    coupons: { received, redeemed, redemptionRate: ratio(redeemed, received, 4), cost: round(Number(row.all_coupon_cost ?? 0), 2) },
    averageOrderValue: {
      before: ordersBefore === 0 ? null : round(Number(row.treated_paid_before) / ordersBefore, 2),
      after: treated.orders === 0 ? null : round(Number(row.treated_paid_after) / treated.orders, 2),
    },
    recall: { silentMembers, reactivated, rate: ratio(reactivated, silentMembers, 4) },
  };
}
