import { instantOf } from '../local-time.ts';
import { Params } from './filters.ts';
import { byPerson } from './people.ts';

/**
 * Counts per local day (docs/analytics.md): event trends, lifecycle stage sizes and
 * segment sizes over time. A day is a calendar day in the request's time zone; a size
 * "on" a day is the state at the end of that day.
 */

export interface DailyRange {
  /** First and last local day, YYYY-MM-DD, both included. */
  readonly fromDay: string;
  readonly toDay: string;
  readonly timeZone: string;
}

/** The local days of a range and the instant each one ends (the next local midnight). */
export function localDays(range: DailyRange): { days: string[]; ends: number[] } {
  const [fy, fm, fd] = range.fromDay.split('-').map(Number) as [number, number, number];
  const [ty, tm, td] = range.toDay.split('-').map(Number) as [number, number, number];
  const days: string[] = [];
  const ends: number[] = [];
  for (let date = new Date(Date.UTC(fy, fm - 1, fd)); date.getTime() <= Date.UTC(ty, tm - 1, td); date = new Date(date.getTime() + 86_400_000)) {
    days.push(date.toISOString().slice(0, 10));
    const next = new Date(date.getTime() + 86_400_000);
    ends.push(instantOf(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), 0, 0, range.timeZone));
  }
  return { days, ends };
}

export interface TrendRequest extends DailyRange {
  /** Track event name; every event when absent. */
  readonly event?: string;
  readonly breakdown?: { readonly property: string };
}

export interface TrendPoint {
  readonly day: string;
  readonly breakdown: string | null;
  readonly events: number;
  readonly members: number;
}

export function trendSql(request: TrendRequest): { sql: string; params: Record<string, unknown> } {
  const params = new Params();
  const { days, ends } = localDays(request);
  const zone = params.bind(request.timeZone, 'String');
  const start = params.bind((ends[0] as number) - dayLength(days[0] as string, ends[0] as number, request.timeZone), 'Int64');
  const end = params.bind(ends.at(-1) as number, 'Int64');
  const event = request.event === undefined ? '' : `AND event = ${params.bind(request.event, 'String')}`;
  const breakdown = request.breakdown ? `JSONExtractString(properties, ${params.bind(request.breakdown.property, 'String')})` : `''`;
  const sql = `
    SELECT toString(toDate(ts, ${zone})) AS day, ${breakdown} AS breakdown, count() AS events, uniqExact(member_id) AS members
    FROM ${byPerson('events')}
    WHERE ts >= fromUnixTimestamp64Milli(${start}) AND ts < fromUnixTimestamp64Milli(${end}) ${event}
    GROUP BY day, breakdown
    ORDER BY day, breakdown`;
  return { sql, params: params.values };
}

/** How long a local day lasts (23, 24 or 25 hours around clock changes), from its end. */
function dayLength(day: string, end: number, timeZone: string): number {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return end - instantOf(y, m, d, 0, 0, timeZone);
}

export function trendResult(request: TrendRequest, rows: readonly Record<string, unknown>[]): TrendPoint[] {
  return rows.map((r) => ({
    day: String(r.day),
    breakdown: request.breakdown ? String(r.breakdown) : null,
    events: Number(r.events),
    members: Number(r.members),
  }));
}

export interface SizesPoint {
  readonly day: string;
  /** The lifecycle stage or the segment id. */
  readonly key: string;
  readonly members: number;
}

/**
 * Members per lifecycle stage (`lifecycle`) or per segment (`segments`) at the end of each
 * local day: a member's stage is its latest transition before the day ended; it is in a
 * segment when its latest change of that segment before the day ended is "entered"; a
 * member merged into another before the day ended counts in neither.
 */
export function sizesSql(kind: 'lifecycle' | 'segments', range: DailyRange): { sql: string; params: Record<string, unknown> } {
  const params = new Params();
  const { days, ends } = localDays(range);
  const dayList = params.bind(days, 'Array(String)');
  const endList = params.bind(ends, 'Array(Int64)');
  // A member merged into another is gone from its merge on: its rows then count under the
  // member it joined, whose own transitions and changes carry on (rank 1 orders the merge
  // after anything else at the same millisecond).
  const merges = `SELECT other_member_id AS merged, toUnixTimestamp64Milli(at) AS t, message_id AS id FROM identity_changes FINAL WHERE action = 'merged'`;
  const source =
    kind === 'lifecycle'
      ? `SELECT member_id AS who, toUnixTimestamp64Milli(at) AS t, 0 AS rank, id, to_stage AS value FROM lifecycle_transitions FINAL
         UNION ALL
         SELECT merged AS who, t, 1 AS rank, id, '' AS value FROM (${merges})`
      : `SELECT concat(member_id, '|', segment_id) AS who, toUnixTimestamp64Milli(at) AS t, 0 AS rank, id, if(change = 'entered', segment_id, '') AS value FROM segment_changes FINAL
         UNION ALL
         SELECT concat(s.member_id, '|', s.segment_id) AS who, m.t, 1 AS rank, m.id, '' AS value
         FROM (SELECT DISTINCT member_id, segment_id FROM segment_changes) AS s INNER JOIN (${merges}) AS m ON m.merged = s.member_id`;
  const sql = `
    SELECT day, key, count() AS members
    FROM (
      SELECT arraySort(groupArray((t, rank, id, value))) AS history,
        arrayMap(e -> arrayLast(x -> x.1 < e, history).4, ${endList}) AS keys
      FROM (${source})
      GROUP BY who
    )
    ARRAY JOIN keys AS key, ${dayList} AS day
    WHERE key != ''
    GROUP BY day, key
    ORDER BY day, key`;
  return { sql, params: params.values };
}

export function sizesResult(rows: readonly Record<string, unknown>[]): SizesPoint[] {
  return rows.map((r) => ({ day: String(r.day), key: String(r.key), members: Number(r.members) }));
}
