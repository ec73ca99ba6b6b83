import type { BuiltQuery } from './catalog.ts';

export interface MemberEventsRequest {
  /** A member and the members merged into it. */
  readonly members: readonly string[];
  readonly limit: number;
}

/** A member's latest events, newest first, each once (a message id written twice is one row). */
export function memberEventsSql(request: MemberEventsRequest): BuiltQuery {
  return {
    sql: `SELECT message_id, type, event, name, toUnixTimestamp64Milli(ts) AS ts, source, properties FROM events
          WHERE member_id IN {members:Array(String)}
          ORDER BY ts DESC, message_id LIMIT 1 BY message_id LIMIT {limit:UInt32}`,
    params: { members: [...request.members], limit: request.limit },
  };
}

export function memberEventsResult(rows: readonly Record<string, unknown>[]): unknown[] {
  return rows.map((row) => ({ ...row, ts: Number(row.ts) }));
}
