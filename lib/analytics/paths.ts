import { Params } from './filters.ts';
import { byPerson } from './people.ts';

/**
 * Paths (docs/analytics.md): for every occurrence of an anchor event in the range, the
 * member's next (or previous) N events, as labels (the track event's name, else the
 * message type); the most frequent paths first.
 */

export interface PathsRequest {
  readonly anchor: string;
  readonly direction: 'next' | 'previous';
  /** Events after (before) the anchor, 1-10. */
  readonly steps: number;
  /** Epoch milliseconds: anchors in [from, to). */
  readonly from: number;
  readonly to: number;
  readonly limit: number;
}

export interface PathCount {
  /** Nearest event first. */
  readonly path: readonly string[];
  readonly count: number;
}

export function pathsSql(request: PathsRequest): { sql: string; params: Record<string, unknown> } {
  const params = new Params();
  const anchor = params.bind(request.anchor, 'String');
  const from = params.bind(request.from, 'Int64');
  const to = params.bind(request.to, 'Int64');
  const steps = params.bind(request.steps, 'UInt32');
  const limit = params.bind(request.limit, 'UInt32');
  const around =
    request.direction === 'next'
      ? `arraySlice(labels, i + 1, ${steps})`
      : `arrayReverse(arraySlice(labels, greatest(1, toInt64(i) - ${steps}), least(toInt64(${steps}), toInt64(i) - 1)))`;
  const sql = `
    SELECT path, count() AS occurrences
    FROM (
      SELECT
        arraySort(x -> (x.1, x.2), groupArray((toUnixTimestamp64Milli(ts), message_id, if(event != '', event, toString(type)), event = ${anchor}))) AS evs,
        arrayMap(x -> x.3, evs) AS labels,
        arrayFilter(i -> evs[i].4 AND evs[i].1 >= ${from} AND evs[i].1 < ${to}, arrayEnumerate(evs)) AS anchors,
        arrayMap(i -> ${around}, anchors) AS paths
      FROM ${byPerson('events')}
      GROUP BY member_id
      HAVING length(anchors) > 0
    )
    ARRAY JOIN paths AS path
    WHERE length(path) > 0
    GROUP BY path
    ORDER BY occurrences DESC, path
    LIMIT ${limit}`;
  return { sql, params: params.values };
}

export function pathsResult(rows: readonly Record<string, unknown>[]): PathCount[] {
  return rows.map((row) => ({ path: (row.path as unknown[]).map(String), count: Number(row.occurrences) }));
}
