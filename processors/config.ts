import { DEFAULT_WINDOWS_DAYS } from '../domain/member/counters.ts';
import { DEFAULT_LIFECYCLE } from '../domain/member/lifecycle.ts';
import { DEFAULT_RFM } from '../domain/member/rfm.ts';
import { DEFAULT_CONSENT_WAIT_MS, DEFAULT_OPT_OUT_TRAITS } from '../domain/member/triggers.ts';
import { hmacVars, kafkaVars, loggingVars, operationsVars, redisVars, topicVars } from '../lib/config/common.ts';
import { defineConfig } from '../lib/config/load.ts';
import { int, list, num, oneOf, str, url } from '../lib/config/variables.ts';
import { DEFAULT_IDENTITY_TRAITS } from './identity/identities.ts';

const ascending4 = (description: string, fallback: readonly number[]) =>
  list(`${description} (four ascending numbers)`, { pattern: /^\d+(\.\d+)?$/ }).default(fallback.map(String));

export const processorConfigSchema = defineConfig(
  'processors',
  {
    ...loggingVars,
    ...operationsVars,
    ...kafkaVars,
    ...topicVars,
    ...redisVars,
    PROCESSOR_GROUP_ID: str('Kafka consumer group of the processors').default('segstream-processors'),
    PROCESSOR_NEW_GROUP_STARTS_AT: oneOf('Where a consumer group with no committed offsets starts reading the events topic', [
      'earliest',
      'latest',
    ] as const).default('earliest'),
    PROCESSOR_SESSION_TIMEOUT_MS: int(
      'How long a replica that stopped answering (killed, hung) keeps its partitions before the group hands them on; brokers refuse less than their group.min.session.timeout.ms (6 s by default). Heartbeats go every tenth of it (at least every second)',
      { min: 6_000 },
    ).default(10_000),
    PROCESSOR_REBALANCE_TIMEOUT_MS: int('How long a group rebalance waits for every replica to rejoin (a replica that died is waited for this long)', {
      min: 3_000,
    }).default(30_000),
    PROCESSOR_RULES_POLL_MS: int('How often a processor checks for rule changes (a change applies within this time, without a restart)', {
      min: 50,
    }).default(250),
    TRIGGER_DAILY_CAP: int('Most trigger fires per member per local day, across all trigger rules (anti-harassment)', { min: 1 }).default(3),
    TRIGGER_OPT_OUT_TRAITS: list(
      'Traits that opt a member out of marketing triggers when they say yes (true, 1, "true", "yes", "y", "on"); names match in any case and with or without _ - and spaces (marketing_opt_out = marketingOptOut)',
      { pattern: /^[A-Za-z0-9_ -]+$/ },
    ).default(DEFAULT_OPT_OUT_TRAITS),
    TRIGGER_CONSENT_WAIT_MS: int(
      "How long (event time) an anonymous member's marketing firing waits before the controls decide it, so an opt-out sent with it on another partition (an identify keyed by user id) is seen (docs/rules.md)",
      { min: 0 },
    ).default(DEFAULT_CONSENT_WAIT_MS),
    TRIGGER_DEFAULT_TIME_ZONE: str('Time zone of members without a valid "timezone" trait (quiet hours, daily cap, calendar triggers)').default('UTC'),
    PROCESSOR_BACKFILL_PAGE_SIZE: int('Members read and written per step when a newly active segment rule is computed for existing members', {
      min: 1,
      max: 10_000,
    }).default(500),
    PROCESSOR_HOST: str('Address of the member lookup and metrics HTTP server').default('0.0.0.0'),
    PROCESSOR_PORT: int('Port of the member lookup and metrics HTTP server', { min: 0, max: 65535 }).default(8081),
    PROCESSOR_API_TOKENS: list('Bearer tokens allowed to look members up').secret().required(),
    PROCESSOR_HISTORY_URL: url(
      "The history service (its HTTP address, e.g. http://127.0.0.1:8084), which the member lookup asks for a member's latest events; unset: lookups carry none",
      ['http:', 'https:'],
    ).optional(),
    PROCESSOR_HISTORY_TOKEN: str("Bearer token for PROCESSOR_HISTORY_URL (one of the history service's HISTORY_READ_TOKENS)").secret().optional(),
    ...hmacVars,
    PROCESSOR_IDENTITY_TRAITS: list('Traits that identify a person and are stored only as keyed hashes', { pattern: /^[A-Za-z0-9_]+$/ }).default(
      DEFAULT_IDENTITY_TRAITS,
    ),
    PROCESSOR_RETENTION_DAYS: int('Events older than this many days (event time) go to the dead-letter topic', { min: 1 }).default(400),
    PROCESSOR_FUTURE_TOLERANCE_MS: int('Events further in the future than this go to the dead-letter topic', { min: 0 }).default(3_600_000),
    PROCESSOR_DEDUP_HORIZON_HOURS: int('How long message ids are remembered to drop client retries', { min: 1 }).default(168),
    PROCESSOR_DEDUP_KEEP_IDS: int(
      "A member's newest message ids kept past the horizon, so a replay of an old log drops its client retries as live processing did",
      { min: 0 },
    ).default(1_000),
    PROCESSOR_BATCH_SIZE: int('Most events applied in one slice (one set of Redis round trips), taken from several partitions', {
      min: 1,
      max: 10_000,
    }).default(8_000),
    PROCESSOR_COMMIT_INTERVAL_MS: int(
      'How often the offsets of applied and published slices are committed (a crash re-reads at most this much, skipping what was applied)',
      {
        min: 10,
      },
    ).default(250),
    PROCESSOR_CONCURRENCY: int('Slices applied at the same time (a partition is in one slice at a time)', { min: 1, max: 64 }).default(2),
    PROCESSOR_ALLOWED_LATENESS_MS: int(
      "How far an event may come after later events of its partition and still be in time: timers fire once every partition's event time is this far past them (docs/processors.md, Time)",
      { min: 0 },
    ).default(5_000),
    PROCESSOR_QUIET_AFTER_MS: int(
      'How long no partition may receive an event before event time follows the wall clock (timers then fire at their time with no event; a history sent in a burst does not jump to today meanwhile)',
      { min: 0 },
    ).default(10_000),
    PROCESSOR_INGEST_DELAY_MS: int(
      'Longest time ingest takes to store an event in Kafka after receiving it: a partition found caught up at time t counts as having applied everything received before t less this (a login linking a device whose partition is idle waits this long; docs/processors.md, Order across partitions)',
      { min: 0 },
    ).default(1_000),
    PROCESSOR_TIMER_INTERVAL_MS: int('How often due lifecycle checks are swept', { min: 50 }).default(1_000),
    PROCESSOR_CRASH_AFTER_STATE_PROBABILITY: num('Testing only: chance of killing the process between the state update and the offset commit', {
      min: 0,
      max: 1,
    }).default(0),
    LIFECYCLE_NEW_DAYS: int('A first order this recent makes a member "new"', { min: 1 }).default(DEFAULT_LIFECYCLE.newDays),
    LIFECYCLE_ACTIVE_DAYS: int('Window over which orders make a member "active" or "declining"', { min: 1 }).default(DEFAULT_LIFECYCLE.activeDays),
    LIFECYCLE_ACTIVE_MIN_ORDERS: int('Orders in the window that make a member "active"', { min: 1 }).default(DEFAULT_LIFECYCLE.activeMinOrders),
    LIFECYCLE_SILENT_AFTER_DAYS: int('Days without an order after which a member is "silent"', { min: 1 }).default(DEFAULT_LIFECYCLE.silentAfterDays),
    LIFECYCLE_CHURNED_AFTER_DAYS: int('Days without an order after which a member is "churned"', { min: 1 }).default(DEFAULT_LIFECYCLE.churnedAfterDays),
    RFM_WINDOW_DAYS: int('Days over which F (paid orders) and M (paid amount, refunds subtracted) count', { min: 1 }).default(DEFAULT_RFM.windowDays),
    RFM_RECENCY_DAYS: ascending4('R score 5, 4, 3, 2 up to this many days since the last paid order', DEFAULT_RFM.recencyDays),
    RFM_FREQUENCY_ORDERS: ascending4('F score 2, 3, 4, 5 from this many paid orders', DEFAULT_RFM.frequencyOrders),
    RFM_MONETARY_AMOUNT: ascending4('M score 2, 3, 4, 5 from this paid amount', DEFAULT_RFM.monetaryAmount),
    RFM_GROUP_CUTS: list('Cut points of the 8 RFM groups: recency days, orders, amount', { pattern: /^\d+(\.\d+)?$/ }).default(
      [DEFAULT_RFM.groupCut.recencyDays, DEFAULT_RFM.groupCut.orders, DEFAULT_RFM.groupCut.amount].map(String),
    ),
    COUNTER_WINDOWS_DAYS: list('Windows of the counters, in days', { pattern: /^\d+$/ }).default(DEFAULT_WINDOWS_DAYS.map(String)),
  },
  { PROCESSOR_HISTORY_TOKEN: 'PROCESSOR_HISTORY_URL' },
);
