import { filterCondition, Params, type PropertyFilter } from './filters.ts';

/**
 * Funnels over the events table (docs/analytics.md defines them):
 * - a member enters at an event of step 1 whose time is in [from, to);
 * - from an entry at t0, each next step is the earliest later event (by time, then message
 *   id) matching it, no later than t0 + window (inclusive); with strict order it must be
 *   the member's very next event, any other event in between ends the chain;
 * - a member counts at the deepest step any of its entries reaches, through the earliest
 *   entry that reaches it, whose times give the time to convert (seconds from step 1);
 * - the breakdown value is the breakdown property (as text) of that entry's event.
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
  readonly breakdown?: { readonly property: string };
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
  const matches = request.steps.map((step) =>
    [`event = ${params.bind(step.event, 'String')}`, ...(step.where ?? []).map((f) => filterCondition(f, params))].join(' AND '),
  );
  const from = params.bind(request.from, 'Int64');
  const to = params.bind(request.to, 'Int64');
  const window = params.bind(request.windowSeconds * 1000, 'Int64');
  const breakdown = request.breakdown ? `JSONExtractString(properties, ${params.bind(request.breakdown.property, 'String')})` : `''`;
  // Strict order needs every event of the member (an unrelated one breaks the chain).
  const relevant = request.order === 'loose' ? `AND (${matches.map((m) => `(${m})`).join(' OR ')})` : '';
  // Chains are arrays of event positions, grown one step at a time over all entries at
  // once (unrolled: one vectorised arrayMap per step, no per-entry fold).
  const nextOf = (k: number) =>
    request.order === 'loose'
      ? `arrayFirstIndex((e, j) -> j > c[${k - 1}] AND e.3[${k}] AND e.1 <= evs[c[1]].1 + window_ms, evs, arrayEnumerate(evs))`
      : `if(c[${k - 1}] < length(evs) AND evs[c[${k - 1}] + 1].3[${k}] AND evs[c[${k - 1}] + 1].1 <= evs[c[1]].1 + window_ms, c[${k - 1}] + 1, 0)`;
  const grow = Array.from({ length: n - 1 }, (_, i) => i + 2).map(
    (k) => `arrayMap(c -> if(length(c) = ${k - 1}, arrayConcat(c, arrayFilter(f -> f > 0, [${nextOf(k)}])), c), chains_${k - 1}) AS chains_${k},`,
  );
  const stepColumns = Array.from({ length: n }, (_, i) => i + 1).flatMap((k) => [
    `countIf(level >= ${k}) AS reached_${k}`,
    `arraySort(groupArrayIf(times[${k}] - times[1], level >= ${k})) AS millis_${k}`,
  ]);
  const sql = `
    WITH ${window} AS window_ms
    SELECT breakdown, ${stepColumns.join(', ')}
    FROM (
      SELECT
        best.1 AS times,
        length(best.1) AS level,
        best.2 AS breakdown
      FROM (
        SELECT
          arraySort(x -> (x.1, x.2), groupArray((toUnixTimestamp64Milli(ts), message_id, [${matches.map((m) => `(${m})`).join(', ')}], ${breakdown}))) AS evs,
          arrayFilter(i -> evs[i].3[1] AND evs[i].1 >= ${from} AND evs[i].1 < ${to}, arrayEnumerate(evs)) AS entries,
          arrayMap(i -> [i], entries) AS chains_1,
          ${grow.join('\n          ')}
          arraySort(c -> (-length(c), c[1]), chains_${n})[1] AS best_chain,
          (arrayMap(p -> evs[p].1, best_chain), evs[best_chain[1]].4) AS best
        FROM events FINAL
        WHERE ts >= fromUnixTimestamp64Milli(${from}) AND ts <= fromUnixTimestamp64Milli(${to} + window_ms) ${relevant}
        GROUP BY member_id
        HAVING length(entries) > 0
      )
    )
    GROUP BY breakdown
    ORDER BY reached_1 DESC, breakdown`;
  return { sql, params: params.values };
}

const rate = (part: number, whole: number) => (whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 10_000);

/** The median of sorted numbers: the middle one, or the mean of the two middle ones. */
export function median(sorted: readonly number[]): number | null {
  if (sorted.length === 0) return null;
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

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
        medianSecondsToConvert: i === 0 ? null : secondsOf(median((row[`millis_${i + 1}`] as number[]).map(Number))),
      })),
    };
  });
}
