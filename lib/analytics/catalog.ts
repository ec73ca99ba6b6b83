import { ATTRIBUTION_MODELS, type AttributionRequest, attributionResult, attributionSql } from './attribution.ts';
import { type CampaignRequest, campaignResult, campaignSql } from './campaign.ts';
import type { PropertyFilter } from './filters.ts';
import { type FunnelRequest, funnelResult, funnelSql } from './funnel.ts';
import { type LtvRequest, ltvResult, ltvSql } from './ltv.ts';
import { type MemberEventsRequest, memberEventsResult, memberEventsSql } from './member-events.ts';
import { type DailyRange, sizesResult, sizesSql, type TrendRequest, trendResult, trendSql } from './over-time.ts';
import { type PathsRequest, pathsResult, pathsSql } from './paths.ts';
import { type RetentionRequest, retentionResult, retentionSql } from './retention.ts';
import { type RfmRequest, rfmResult, rfmSql } from './rfm.ts';

/** SQL with its bound parameters, as every builder here makes it. */
export interface BuiltQuery {
  readonly sql: string;
  readonly params: Record<string, unknown>;
}

/**
 * One analysis: its request schema, a check JSON Schema cannot express, the SQL it builds
 * and how its rows become the answer. This catalogue is the only SQL that analytics reads
 * run: callers name an analysis and send its request, never SQL.
 */
export interface Analysis<Request = never> {
  /** Its name in routes: /analyses/<name> on the query API, /warehouse/analyses/<name> on a warehouse owner. */
  readonly name: string;
  readonly summary: string;
  readonly body: Record<string, unknown>;
  /** Problems JSON Schema cannot catch (e.g. from before to), as "field: what is wrong". */
  readonly check?: (request: Request) => string[];
  readonly sql: (request: Request) => BuiltQuery;
  readonly result: (request: Request, rows: readonly Record<string, unknown>[]) => unknown;
}

/** The latest time an analysis takes: 2199-12-31 (ClickHouse's DateTime64 ends in 2299; nothing later is an event time). */
const LATEST_TIME = Date.UTC(2200, 0, 1) - 1;
const time = { type: 'integer', minimum: 0, maximum: LATEST_TIME, description: 'epoch milliseconds (1970 to 2199)' } as const;
const day = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'YYYY-MM-DD' } as const;
/** Longest range of days a daily analysis covers: one row per day and group. */
export const MAX_DAYS = 3_660;
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
/** Epoch ms of a YYYY-MM-DD that is a real calendar day from 1970 to 2199, else undefined. */
const dayTime = (text: string): number | undefined => {
  const [year, month, date] = text.split('-').map(Number) as [number, number, number];
  const at = Date.UTC(year, month - 1, date);
  return year >= 1970 && at <= LATEST_TIME && new Date(at).toISOString().slice(0, 10) === text ? at : undefined;
};
const dayRange = (r: DailyRange) => {
  const [from, to] = [dayTime(r.fromDay), dayTime(r.toDay)];
  const notDay = (field: 'fromDay' | 'toDay') => `${field}: expected a calendar day from 1970-01-01 to 2199-12-31, received ${JSON.stringify(r[field])}`;
  if (from === undefined || to === undefined) return [...(from === undefined ? [notDay('fromDay')] : []), ...(to === undefined ? [notDay('toDay')] : [])];
  const days = (to - from) / 86_400_000;
  if (days < 0) return [`toDay: must not be before fromDay (${r.fromDay}), received ${r.toDay}`];
  return days < MAX_DAYS ? [] : [`toDay: at most ${MAX_DAYS} days after fromDay (${r.fromDay}), received ${r.toDay}; narrow the date range`];
};
/** Numeric comparisons need a number (or a numeric text); JSON Schema allows either type for every op. */
const filterChecks = (steps: readonly { where?: readonly PropertyFilter[] }[]) =>
  steps.flatMap((step, i) =>
    (step.where ?? []).flatMap((f, j) =>
      ['gt', 'gte', 'lt', 'lte'].includes(f.op) && !(typeof f.value === 'number' || (f.value.trim() !== '' && Number.isFinite(Number(f.value))))
        ? [`steps[${i}].where[${j}].value: expected a number for ${f.op}, received ${JSON.stringify(f.value)}`]
        : [],
    ),
  );
const zoneCheck = (r: { timeZone: string }) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: r.timeZone });
    return [];
  } catch {
    return [`timeZone: expected an IANA time zone such as Asia/Shanghai, received ${JSON.stringify(r.timeZone)}`];
  }
};

export const ANALYSES: readonly Analysis<never>[] = [
  {
    name: 'funnel',
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
        windowSeconds: { type: 'integer', minimum: 1, maximum: 31_536_000, description: 'at most 365 days' },
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
    check: (r: FunnelRequest) => [...range(r), ...filterChecks(r.steps)],
    sql: funnelSql,
    result: funnelResult,
  } satisfies Analysis<FunnelRequest>,
  {
    name: 'retention',
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
    sql: retentionSql,
    result: (_, rows) => retentionResult(rows),
  } satisfies Analysis<RetentionRequest>,
  {
    name: 'attribution',
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
        halfLifeDays: { type: 'number', minimum: 0.01, maximum: 3_650, default: 7 },
      },
    },
    check: range,
    sql: attributionSql,
    result: attributionResult,
  } satisfies Analysis<AttributionRequest>,
  {
    name: 'paths',
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
    sql: pathsSql,
    result: (_, rows) => pathsResult(rows),
  } satisfies Analysis<PathsRequest>,
  {
    name: 'trends',
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
    sql: trendSql,
    result: trendResult,
  } satisfies Analysis<TrendRequest>,
  ...(['lifecycle', 'segments'] as const).map(
    (kind) =>
      ({
        name: kind === 'lifecycle' ? 'lifecycle-sizes' : 'segment-sizes',
        summary: kind === 'lifecycle' ? 'Members per lifecycle stage at the end of each local day' : 'Members per segment at the end of each local day',
        body: { type: 'object', additionalProperties: false, required: ['fromDay', 'toDay'], properties: { fromDay: day, toDay: day, timeZone } },
        check: (r: DailyRange) => [...dayRange(r), ...zoneCheck(r)],
        sql: (r: DailyRange) => sizesSql(kind, r),
        result: (_, rows) => sizesResult(rows),
      }) satisfies Analysis<DailyRange>,
  ),
  {
    name: 'ltv',
    summary: 'LTV/CLV per monthly cohort of first paid order: average order value x monthly purchase frequency x lifespan',
    body: { type: 'object', additionalProperties: false, required: ['at'], properties: { at: time, timeZone } },
    check: zoneCheck,
    sql: ltvSql,
    result: (_, rows) => ltvResult(rows),
  } satisfies Analysis<LtvRequest>,
  {
    name: 'campaign',
    summary:
      'Campaign report for a trigger rule: targeted, suppressed by reason, held out; reach, conversion and revenue within N days; coupons; AOV before/after; recall; lift over the holdout',
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['ruleId', 'from', 'to', 'days'],
      properties: { ruleId: { type: 'string', minLength: 1 }, from: time, to: time, days: { type: 'integer', minimum: 1, maximum: 365 } },
    },
    check: range,
    sql: campaignSql,
    result: campaignResult,
  } satisfies Analysis<CampaignRequest>,
  {
    name: 'member-events',
    summary: "A member's latest events, newest first (the member and the members merged into it, by member id)",
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['members', 'limit'],
      properties: {
        members: { type: 'array', minItems: 1, maxItems: 1_000, items: { type: 'string', minLength: 1, maxLength: 200 } },
        limit: { type: 'integer', minimum: 1, maximum: 200 },
      },
    },
    sql: memberEventsSql,
    result: (_, rows) => memberEventsResult(rows),
  } satisfies Analysis<MemberEventsRequest>,
  {
    name: 'rfm',
    summary: 'RFM distribution at a moment: the 8 groups, R x F and R x M matrices',
    body: { type: 'object', additionalProperties: false, required: ['at'], properties: { at: time } },
    sql: rfmSql,
    result: (_, rows) => rfmResult(rows),
  } satisfies Analysis<RfmRequest>,
] as unknown as readonly Analysis<never>[];
