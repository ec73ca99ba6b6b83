import { Params } from './filters.ts';
import { withPerson } from './people.ts';

/**
 * Retention (docs/analytics.md): members grouped into cohorts by the period (day, week
 * starting Monday, or month, in the request's time zone) of their first-ever cohort event
 * (any event when none is named); for each of N periods after, how many did the return
 * event (any event when none is named) in that period, at or after their first cohort event.
 */

export type RetentionPeriod = 'day' | 'week' | 'month';

export interface RetentionRequest {
  readonly cohortEvent?: string;
  readonly returnEvent?: string;
  readonly period: RetentionPeriod;
  /** Periods after the cohort's own (period 0), 1-52. */
  readonly periods: number;
  /** Epoch milliseconds: cohorts whose first event is in [from, to). */
  readonly from: number;
  readonly to: number;
  /** IANA time zone of the period boundaries. */
  readonly timeZone: string;
}

export interface RetentionCohort {
  /** The cohort period's first day, YYYY-MM-DD in the request's time zone. */
  readonly cohort: string;
  readonly members: number;
  /** Members who returned in period 0..N. */
  readonly returned: readonly number[];
  /** returned / members, to 4 decimals. */
  readonly rates: readonly number[];
}

export function retentionSql(request: RetentionRequest): { sql: string; params: Record<string, unknown> } {
  const params = new Params();
  const zone = params.bind(request.timeZone, 'String');
  const isCohort = request.cohortEvent === undefined ? '1' : `event = ${params.bind(request.cohortEvent, 'String')}`;
  const isReturn = request.returnEvent === undefined ? '1' : `event = ${params.bind(request.returnEvent, 'String')}`;
  // The period's first day, as a Date in the zone; the unit name is chosen here, never taken from the request.
  const startOf = (t: string) =>
    request.period === 'day'
      ? `toDate(${t}, ${zone})`
      : request.period === 'week'
        ? `toMonday(toDate(${t}, ${zone}))`
        : `toStartOfMonth(toDate(${t}, ${zone}))`;
  // Periods between two period starts: days, whole weeks between Mondays, or months.
  const between = (a: string, b: string) =>
    request.period === 'day'
      ? `dateDiff('day', ${a}, ${b})`
      : request.period === 'week'
        ? `intDiv(dateDiff('day', ${a}, ${b}), 7)`
        : `dateDiff('month', ${a}, ${b})`;
  const from = params.bind(request.from, 'Int64');
  const to = params.bind(request.to, 'Int64');
  const periods = params.bind(request.periods, 'UInt32');
  // Per member id, one pass with no event arrays, then per person (merged member ids
  // combined). A later period counts whenever it has a return. The cohort's own period
  // counts if a return there is at or after the first cohort event: always when every
  // cohort event is also a return event (it is one itself), else when the latest return
  // in that period is (kept per period with maxMap, over the return events only).
  // Duplicate rows of an event change neither, so this reads without FINAL.
  const cohortIsReturn = request.returnEvent === undefined || request.returnEvent === request.cohortEvent;
  const perMember = cohortIsReturn
    ? `groupUniqArrayIf(${startOf('ts')}, ${isReturn}) AS member_periods`
    : `maxMapIf([${startOf('ts')}], [toUnixTimestamp64Milli(ts)], ${isReturn}) AS member_latest_return`;
  const returnPeriods = cohortIsReturn
    ? 'arrayFilter(p -> p >= cohort, groupUniqArrayArray(member_periods))'
    : `arrayFilter((p, last) -> p > cohort OR (p = cohort AND last >= first_ms), (maxMap(member_latest_return.1, member_latest_return.2) AS latest_return).1, latest_return.2)`;
  const sql = `
    SELECT toString(cohort) AS cohort, count() AS members,
      arrayMap(k -> countEqual(arrayFlatten(groupArray(returned)), k), range(0, ${periods} + 1)) AS returned
    FROM (
      SELECT
        minIf(member_first_ms, has_cohort) AS first_ms,
        ${startOf('fromUnixTimestamp64Milli(first_ms)')} AS cohort,
        arrayFilter(k -> k <= ${periods}, arrayMap(p -> toUInt32(${between('cohort', 'p')}), ${returnPeriods})) AS returned
      FROM ${withPerson(`
        SELECT member_id,
          countIf(${isCohort}) > 0 AS has_cohort,
          minIf(toUnixTimestamp64Milli(ts), ${isCohort}) AS member_first_ms,
          ${perMember}
        FROM events
        GROUP BY member_id`)}
      GROUP BY person
      HAVING countIf(has_cohort) > 0 AND first_ms >= ${from} AND first_ms < ${to}
    )
    GROUP BY cohort
    ORDER BY cohort`;
  return { sql, params: params.values };
}

export function retentionResult(rows: readonly Record<string, unknown>[]): RetentionCohort[] {
  return rows.map((row) => {
    const members = Number(row.members);
    const returned = (row.returned as unknown[]).map(Number);
    return { cohort: String(row.cohort), members, returned, rates: returned.map((r) => (members === 0 ? 0 : Math.round((r / members) * 10_000) / 10_000)) };
  });
}
