import type { Warehouse } from '../lib/warehouse/warehouse.ts';
import { ATTRIBUTION_MODELS, type AttributionRequest, attributionResult, attributionSql } from './analytics/attribution.ts';
import { type CampaignRequest, campaignResult, campaignSql } from './analytics/campaign.ts';
import { type FunnelRequest, funnelResult, funnelSql } from './analytics/funnel.ts';
import { type LtvRequest, ltvResult, ltvSql } from './analytics/ltv.ts';
import { type DailyRange, sizesResult, sizesSql, type TrendRequest, trendResult, trendSql } from './analytics/over-time.ts';
import { type PathsRequest, pathsResult, pathsSql } from './analytics/paths.ts';
import { type RetentionRequest, retentionResult, retentionSql } from './analytics/retention.ts';
import { type RfmRequest, rfmResult, rfmSql } from './analytics/rfm.ts';

/** One analysis the API serves: its request schema, a check JSON Schema cannot express, and how it runs. */
export interface Analysis<Request> {
  readonly path: string;
  readonly summary: string;
  readonly body: Record<string, unknown>;
  /** Problems JSON Schema cannot catch (e.g. from before to), as "field: what is wrong". */
  readonly check?: (request: Request) => string[];
  readonly run: (warehouse: Warehouse, request: Request, settings: string) => Promise<unknown>;
}

const time = { type: 'integer', minimum: 0, description: 'epoch milliseconds' } as const;
const day = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'YYYY-MM-DD' } as const;
const timeZone = { type: 'string', minLength: 1, default: 'UTC', description: 'IANA time zone, e.g. Asia/Shanghai' } as const;
const filter = {
  type: 'object',
  additionalProperties: false,
  required: ['property', 'op', 'value'],
  properties: {
    property: { type: 'string', minLength: 1 },
    op: { type: 'string', enum: ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'contains'] },
    value: { type: ['string', 'number'] },
  },
} as const;
const range = (r: { from: number; to: number }) => (r.from < r.to ? [] : [`to: must be after from (${r.from}), received ${r.to}`]);
const dayRange = (r: DailyRange) => (r.fromDay <= r.toDay ? [] : [`toDay: must not be before fromDay (${r.fromDay}), received ${r.toDay}`]);
const zoneCheck = (r: { timeZone: string }) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: r.timeZone });
    return [];
  } catch {
    return [`timeZone: expected an IANA time zone such as Asia/Shanghai, received ${JSON.stringify(r.timeZone)}`];
  }
};

/** Runs generated SQL with the per-query settings appended (they are fixed numbers, never request values). */
const query = (warehouse: Warehouse, built: { sql: string; params: Record<string, unknown> }, settings: string) =>
  warehouse.query<Record<string, unknown>>(`${built.sql}\n${settings}`, built.params);

export const ANALYSES: readonly Analysis<never>[] = [
  {
    path: '/funnel',
    summary: 'Funnel: members per step, conversion from the previous and the first step, median time to convert',
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['steps', 'windowSeconds', 'from', 'to'],
      properties: {
        steps: {
          type: 'array',
          minItems: 2,
          maxItems: 10,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['event'],
            properties: { event: { type: 'string', minLength: 1 }, where: { type: 'array', items: filter } },
          },
        },
        windowSeconds: { type: 'integer', minimum: 1 },
        order: { type: 'string', enum: ['loose', 'strict'], default: 'loose' },
        from: time,
        to: time,
        breakdown: {
          description: 'by a property of the entry event, or by membership of a segment at entry ("in"/"out")',
          oneOf: [
            { type: 'object', additionalProperties: false, required: ['property'], properties: { property: { type: 'string', minLength: 1 } } },
            { type: 'object', additionalProperties: false, required: ['segment'], properties: { segment: { type: 'string', minLength: 1 } } },
          ],
        },
      },
    },
    check: range,
    run: async (w, r: FunnelRequest, s) => funnelResult(r, await query(w, funnelSql(r), s)),
  } satisfies Analysis<FunnelRequest>,
  {
    path: '/retention',
    summary: 'Retention: cohorts by first event per day/week/month, returns per period, as a matrix',
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['period', 'periods', 'from', 'to'],
      properties: {
        cohortEvent: { type: 'string', minLength: 1 },
        returnEvent: { type: 'string', minLength: 1 },
        period: { type: 'string', enum: ['day', 'week', 'month'] },
        periods: { type: 'integer', minimum: 1, maximum: 52 },
        from: time,
        to: time,
        timeZone,
      },
    },
    check: (r: RetentionRequest) => [...range(r), ...zoneCheck(r)],
    run: async (w, r: RetentionRequest, s) => retentionResult(await query(w, retentionSql(r), s)),
  } satisfies Analysis<RetentionRequest>,
  {
    path: '/attribution',
    summary: 'Attribution of paid orders to campaign clicks, UTM visits and fired triggers by first/last touch, linear, 40/20/40 and time decay',
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['from', 'to', 'lookbackDays'],
      properties: {
        models: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: [...ATTRIBUTION_MODELS] }, default: [...ATTRIBUTION_MODELS] },
        from: time,
        to: time,
        lookbackDays: { type: 'integer', minimum: 1, maximum: 365 },
        halfLifeDays: { type: 'number', exclusiveMinimum: 0, default: 7 },
      },
    },
    check: range,
    run: async (w, r: AttributionRequest, s) => attributionResult(r, await query(w, attributionSql(r), s)),
  } satisfies Analysis<AttributionRequest>,
  {
    path: '/paths',
    summary: 'Paths: the most frequent next (or previous) events after (before) an event',
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['anchor', 'from', 'to'],
      properties: {
        anchor: { type: 'string', minLength: 1 },
        direction: { type: 'string', enum: ['next', 'previous'], default: 'next' },
        steps: { type: 'integer', minimum: 1, maximum: 10, default: 3 },
        from: time,
        to: time,
        limit: { type: 'integer', minimum: 1, maximum: 1_000, default: 20 },
      },
    },
    check: range,
    run: async (w, r: PathsRequest, s) => pathsResult(await query(w, pathsSql(r), s)),
  } satisfies Analysis<PathsRequest>,
  {
    path: '/trends',
    summary: 'Event trends: events and unique members per local day, optionally per property value',
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['fromDay', 'toDay'],
      properties: {
        event: { type: 'string', minLength: 1 },
        fromDay: day,
        toDay: day,
        timeZone,
        breakdown: { type: 'object', additionalProperties: false, required: ['property'], properties: { property: { type: 'string', minLength: 1 } } },
      },
    },
    check: (r: TrendRequest) => [...dayRange(r), ...zoneCheck(r)],
    run: async (w, r: TrendRequest, s) => trendResult(r, await query(w, trendSql(r), s)),
  } satisfies Analysis<TrendRequest>,
  ...(['lifecycle', 'segments'] as const).map(
    (kind) =>
      ({
        path: kind === 'lifecycle' ? '/lifecycle-sizes' : '/segment-sizes',
        summary: kind === 'lifecycle' ? 'Members per lifecycle stage at the end of each local day' : 'Members per segment at the end of each local day',
        body: { type: 'object', additionalProperties: false, required: ['fromDay', 'toDay'], properties: { fromDay: day, toDay: day, timeZone } },
        check: (r: DailyRange) => [...dayRange(r), ...zoneCheck(r)],
        run: async (w, r: DailyRange, s) => sizesResult(await query(w, sizesSql(kind, r), s)),
      }) satisfies Analysis<DailyRange>,
  ),
  {
    path: '/ltv',
    summary: 'LTV/CLV per monthly cohort of first paid order: average order value x monthly purchase frequency x lifespan',
    body: { type: 'object', additionalProperties: false, required: ['at'], properties: { at: time, timeZone } },
    check: zoneCheck,
    run: async (w, r: LtvRequest, s) => ltvResult(await query(w, ltvSql(r), s)),
  } satisfies Analysis<LtvRequest>,
  {
    path: '/campaign',
    summary:
      'Campaign report for a trigger rule: targeted, suppressed by reason, held out; reach, conversion and revenue within N days; coupons; AOV before/after; recall; lift over the holdout',
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['ruleId', 'from', 'to', 'days'],
      properties: { ruleId: { type: 'string', minLength: 1 }, from: time, to: time, days: { type: 'integer', minimum: 1, maximum: 365 } },
    },
    check: range,
    run: async (w, r: CampaignRequest, s) => campaignResult(r, await query(w, campaignSql(r), s)),
  } satisfies Analysis<CampaignRequest>,
  {
    path: '/rfm',
    summary: 'RFM distribution at a moment: the 8 groups, R x F and R x M matrices',
    body: { type: 'object', additionalProperties: false, required: ['at'], properties: { at: time } },
    run: async (w, r: RfmRequest, s) => rfmResult(await query(w, rfmSql(r), s)),
  } satisfies Analysis<RfmRequest>,
] as unknown as readonly Analysis<never>[];
