import { Params } from './filters.ts';
import { byPerson } from './people.ts';

/**
 * Attribution of paid orders to touch points (docs/analytics.md): campaign clicks and UTM
 * visits (page/screen views carrying a campaign) in the events table, and fired triggers
 * (`trigger:<rule id>`), within a lookback window before each order.
 */

export const ATTRIBUTION_MODELS = ['first_touch', 'last_touch', 'linear', 'position_based', 'time_decay'] as const;
export type AttributionModel = (typeof ATTRIBUTION_MODELS)[number];

export interface AttributionRequest {
  readonly models: readonly AttributionModel[];
  /** Epoch milliseconds: orders in [from, to). */
  readonly from: number;
  readonly to: number;
  readonly lookbackDays: number;
  /** Time-decay half-life. */
  readonly halfLifeDays?: number;
}

export interface ChannelCredit {
  readonly channel: string;
  /** Orders credited (fractions summed, 4 decimals). */
  readonly conversions: number;
  /** Revenue credited, to the cent. */
  readonly revenue: number;
}

export interface AttributionResult {
  readonly model: AttributionModel;
  readonly channels: readonly ChannelCredit[];
  /** Orders with no touch point in their lookback window. */
  readonly unattributed: { readonly orders: number; readonly revenue: number };
}

export function attributionSql(request: AttributionRequest): { sql: string; params: Record<string, unknown> } {
  const params = new Params();
  const from = params.bind(request.from, 'Int64');
  const to = params.bind(request.to, 'Int64');
  const lookback = params.bind(request.lookbackDays * 86_400_000, 'Int64');
  const halfLife = params.bind((request.halfLifeDays ?? 7) * 86_400_000, 'Float64');
  const models = params.bind([...request.models], 'Array(String)');
  const sql = `
    WITH ${lookback} AS lookback_ms, ${halfLife} AS half_life_ms
    SELECT entry.1 AS model, credited.1 AS channel,
      sum(toInt64(floor(credited.2 * 1e6 + 0.5))) AS micro_conversions,
      sum(toInt128(floor(credited.2 * revenue * 1e6 + 0.5))) AS micro_revenue
    FROM (
      SELECT o.id, o.revenue,
        arraySort(x -> (x.1, x.2), arrayFilter(x -> x.1 >= o.t - lookback_ms AND x.1 <= o.t, m.touches)) AS touches,
        length(touches) AS n,
        arrayMap(x -> exp2((x.1 - o.t) / half_life_ms), touches) AS weights,
        [
          ('first_touch', if(n = 0, [('', 1.0)], [(touches[1].3, 1.0)])),
          ('last_touch', if(n = 0, [('', 1.0)], [(touches[n].3, 1.0)])),
          ('linear', if(n = 0, [('', 1.0)], arrayMap(x -> (x.3, 1.0 / n), touches))),
          ('position_based', if(n = 0, [('', 1.0)], arrayMap((x, i) -> (x.3, multiIf(n = 1, 1.0, n = 2, 0.5, i = 1 OR i = n, 0.4, 0.2 / (n - 2))), touches, arrayEnumerate(touches)))),
          ('time_decay', if(n = 0, [('', 1.0)], arrayMap((x, w) -> (x.3, w / arraySum(weights)), touches, weights)))
        ] AS by_model
      FROM (
        SELECT member_id, toUnixTimestamp64Milli(ts) AS t, message_id AS id, toFloat64(total) AS revenue
        FROM ${byPerson('events')}
        WHERE event = 'Order Completed' AND ts >= fromUnixTimestamp64Milli(${from}) AND ts < fromUnixTimestamp64Milli(${to})
      ) AS o
      LEFT JOIN (
        SELECT member_id, groupArray((t, id, channel)) AS touches
        FROM (
          SELECT member_id, toUnixTimestamp64Milli(ts) AS t, message_id AS id, utm_campaign AS channel
          FROM ${byPerson('events')}
          WHERE utm_campaign != '' AND (event = 'Campaign Clicked' OR type IN ('page', 'screen'))
            AND ts >= fromUnixTimestamp64Milli(${from} - lookback_ms) AND ts < fromUnixTimestamp64Milli(${to})
          UNION ALL
          SELECT member_id, toUnixTimestamp64Milli(at) AS t, id, concat('trigger:', rule_id) AS channel
          FROM ${byPerson('trigger_firings')}
          WHERE outcome = 'fired' AND at >= fromUnixTimestamp64Milli(${from} - lookback_ms) AND at < fromUnixTimestamp64Milli(${to})
        )
        GROUP BY member_id
      ) AS m ON o.member_id = m.member_id
    )
    ARRAY JOIN by_model AS entry
    ARRAY JOIN entry.2 AS credited
    WHERE has(${models}, entry.1)
    GROUP BY model, channel
    ORDER BY model, channel`;
  return { sql, params: params.values };
}

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;
/** Credit is summed in whole millionths (each touch's share rounded half up), so the order rows are added in cannot change a cent. */
const micro = (value: unknown) => Number(value) / 1e6;

/** Shapes the rows (model, channel, sums) into per-model results; the empty channel holds the unattributed orders. */
export function attributionResult(request: AttributionRequest, rows: readonly Record<string, unknown>[]): AttributionResult[] {
  return request.models.map((model) => {
    const own = rows.filter((r) => r.model === model);
    const unattributed = own.find((r) => r.channel === '');
    return {
      model,
      channels: own
        .filter((r) => r.channel !== '')
        .map((r) => ({ channel: String(r.channel), conversions: round(micro(r.micro_conversions), 4), revenue: round(micro(r.micro_revenue), 2) })),
      unattributed: { orders: Math.round(micro(unattributed?.micro_conversions ?? 0)), revenue: round(micro(unattributed?.micro_revenue ?? 0), 2) },
    };
  });
}
