import { filterCondition, Params, type PropertyFilter } from './filters.ts';
import { byPerson } from './people.ts';

/**
 * Funnels over the events table (docs/analytics.md defines them):
 * - a member enters at an event of step 1 whose time is in [from, to);
 * - from an entry at t0, each next step is the earliest later event (by time, then message
 *   id) matching it, no later than t0 + window (inclusive); with strict order it must be
 *   the member's very next event, any other event in between ends the chain;
 * - a member counts at the deepest step any of its entries reaches, through the earliest
 *   entry that reaches it, whose times give the time to convert (seconds from step 1);
 * - the breakdown value is the breakdown property (as text) of that entry's event, or
 *   "in"/"out" of the breakdown segment at that entry's time (its last change at or
 *   before then, ordered by time and change id, was an entry).
 */

export interface FunnelStep {
  readonly event: string;
  readonly where?: readonly PropertyFilter[];
}

export interface FunnelRequest {
  readonly steps: readonly FunnelStep[];
  readonly windowSeconds: number;
  readonly order: 'loose' | 'strict';
  /** Epoch milliseconds; entries in [from, to). */
  readonly from: number;
  readonly to: number;
  /** Group members by a property of their entry event, or by membership of a segment at their entry ("in"/"out"). */
  readonly breakdown?: { readonly property: string } | { readonly segment: string };
}

export interface FunnelStepResult {
  readonly step: number;
  readonly event: string;
  readonly members: number;
  /** Fractions, rounded to 4 decimals (percent to 2). */
  readonly conversionFromPrevious: number;
  readonly conversionFromFirst: number;
  /** Median seconds from step 1 (the mean of the two middle values for an even count); null for step 1 or nobody. */
  readonly medianSecondsToConvert: number | null;
}

export interface FunnelGroup {
  readonly breakdown: string | null;
  readonly steps: readonly FunnelStepResult[];
}

export function funnelSql(request: FunnelRequest): { sql: string; params: Record<string, unknown> } {
  const params = new Params();
  const n = request.steps.length;
  const steps = Array.from({ length: n }, (_, i) => i + 1);
  const matches = request.steps.map((step) =>
    [`event = ${params.bind(step.event, 'String')}`, ...(step.where ?? []).map((f) => filterCondition(f, params))].join(' AND '),
  );
  const from = params.bind(request.from, 'Int64');
  const to = params.bind(request.to, 'Int64');
  const window = params.bind(request.windowSeconds * 1000, 'Int64');
  const property = request.breakdown && 'property' in request.breakdown ? request.breakdown.property : undefined;
  const segment = request.breakdown && 'segment' in request.breakdown ? request.breakdown.segment : undefined;
  const propertyValue = property === undefined ? '' : `JSONExtractString(properties, ${params.bind(property, 'String')})`;
  // Strict order needs every event of the member (an unrelated one breaks the chain).
  const relevant = request.order === 'loose' ? `AND (${matches.map((m) => `(${m})`).join(' OR ')})` : '';
  // Every entry's chain grows one step at a time: positions_k[e] is the position of its
  // step k (0 once the chain has ended). The lambdas capture only the positions and times
  // of events matching step k (a few per member): a captured array is copied per element.
  // Loose: the first matching position after the previous step's; strict: the very next one.
  const found = (k: number) => (request.order === 'loose' ? `arrayFirstIndex(x -> x > p, positions_of_${k})` : `indexOf(positions_of_${k}, p + 1)`);
  const grow = (k: number) => [
    `arrayMap(p -> if(p > 0, ${found(k)}, 0), positions_${k - 1}) AS found_${k}`,
    `arrayMap((j, t0) -> if(j > 0 AND times_of_${k}[j] <= t0 + window_ms, positions_of_${k}[j], 0), found_${k}, entry_times) AS positions_${k}`,
  ];
  const chained = steps.slice(1);
  const membership = segment
    ? `LEFT JOIN (
          SELECT member_id, arraySort(groupArray((toUnixTimestamp64Milli(at), id, change = 'entered'))) AS changes
          FROM segment_changes FINAL
          WHERE segment_id = ${params.bind(segment, 'String')} AND at <= fromUnixTimestamp64Milli(${to})
          GROUP BY member_id
        ) AS memberships USING member_id`
    : '';
  // In the segment at the entry's time: its last change at or before then was an entry.
  const breakdown = segment ? `if(arrayLast(c -> c.1 <= t_1, changes).3, 'in', 'out')` : property === undefined ? `''` : 'entry_properties[positions_1[best]]';
  // Layered subqueries: each layer's arrays are columns of the next, so the query tree stays
  // small (an alias used in a later alias would be expanded in place, growing per step).
  const layer = (columns: string, inner: string) => `SELECT *, ${columns} FROM (${inner})`;
  let chains = layer(
    [
      'arrayMap(e -> e.1, evs) AS times',
      ...steps.flatMap((k) => [
        `arrayFilter((i, e) -> bitTest(e.3, ${k - 1}), arrayEnumerate(evs), evs) AS positions_of_${k}`,
        `arrayMap(e -> e.1, arrayFilter(e -> bitTest(e.3, ${k - 1}), evs)) AS times_of_${k}`,
      ]),
      ...(property === undefined ? [] : ['arrayMap(e -> e.4, evs) AS entry_properties']),
    ].join(', '),
    // The steps an event matches as one bit mask: narrow tuples sort much faster.
    `SELECT member_id,
          arraySort(groupArray((toUnixTimestamp64Milli(ts), message_id, toUInt16(${matches.map((m, i) => `(${m}) * ${2 ** i}`).join(' + ')})${property === undefined ? '' : `, ${propertyValue}`}))) AS evs
        FROM ${byPerson('events')}
        WHERE ts >= fromUnixTimestamp64Milli(${from}) AND ts <= fromUnixTimestamp64Milli(${to} + window_ms) ${relevant}
        GROUP BY member_id`,
  );
  chains = layer(
    [
      `arrayFilter((i, t) -> t >= ${from} AND t < ${to}, positions_of_1, times_of_1) AS positions_1`,
      `arrayFilter(t -> t >= ${from} AND t < ${to}, times_of_1) AS entry_times`,
    ].join(', '),
    chains,
  );
  chains = `${chains} WHERE length(positions_1) > 0`;
  for (const k of chained) for (const column of grow(k)) chains = layer(column, chains);
  chains = layer(
    `arrayMap((${chained.map((k) => `p${k}`).join(', ')}) -> 1${chained.map((k) => ` + (p${k} > 0)`).join('')}, ${chained.map((k) => `positions_${k}`).join(', ')}) AS levels`,
    chains,
  );
  chains = layer('arrayMax(levels) AS level, arrayFirstIndex(l -> l = level, levels) AS best', chains);
  const sql = `
    WITH ${window} AS window_ms
    SELECT breakdown,
      ${steps.map((k) => `countIf(level >= ${k}) AS reached_${k}`).join(', ')},
      ${chained.map((k) => `quantileExactInclusiveIf(0.5)(t_${k} - t_1, level >= ${k}) AS median_${k}`).join(', ')}
    FROM (
      SELECT level, ${steps.map((k) => `times[positions_${k}[best]] AS t_${k}`).join(', ')}, ${breakdown} AS breakdown
      FROM (${chains}) AS chains ${membership}
    )
    GROUP BY breakdown
    ORDER BY reached_1 DESC, breakdown`;
  return { sql, params: params.values };
}

const rate = (part: number, whole: number) => (whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 10_000);

const secondsOf = (millis: number | null) => (millis === null ? null : Math.round(millis) / 1000);

/** Shapes the query's rows (one per breakdown value) into per-step results. */
export function funnelResult(request: FunnelRequest, rows: readonly Record<string, unknown>[]): FunnelGroup[] {
  return rows.map((row) => {
    const reached = request.steps.map((_, i) => Number(row[`reached_${i + 1}`]));
    return {
      breakdown: request.breakdown ? String(row.breakdown) : null,
      steps: request.steps.map((step, i) => ({
        step: i + 1,
        event: step.event,
        members: reached[i] as number,
        conversionFromPrevious: i === 0 ? 1 : rate(reached[i] as number, reached[i - 1] as number),
        conversionFromFirst: rate(reached[i] as number, reached[0] as number),
        medianSecondsToConvert: i === 0 || reached[i] === 0 ? null : secondsOf(Number(row[`median_${i + 1}`])),
      })),
    };
  });
}
