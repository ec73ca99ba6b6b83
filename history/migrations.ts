import type { Migration } from '../lib/warehouse/migrations.ts';
import { propertyMoneySql } from '../lib/warehouse/warehouse.ts';

/** Paid and refunded orders as rows of the orders table (amounts as in the events table: total, else revenue). */
const ORDERS_FROM_EVENTS = `SELECT
    message_id,
    member_id,
    order_id,
    if(event = 'Order Completed', 'paid', 'refunded') AS kind,
    ts AS at,
    total AS amount,
    ${propertyMoneySql('discount')} AS discount,
    JSONExtractString(properties, 'coupon') AS coupon,
    currency,
    JSONLength(properties, 'products') AS products
  FROM events
  WHERE type = 'track' AND event IN ('Order Completed', 'Order Refunded')`;

/** Rebuilds `table` with the sorting key `key`, keeping its columns, partitions and rows. */
function rekey(table: string, partition: string, key: string): string[] {
  const rebuilt = `${table}_rekeyed`;
  return [
    // Left over by a run that stopped half-way.
    `DROP TABLE IF EXISTS ${rebuilt}`,
    `CREATE TABLE ${rebuilt} AS ${table} ENGINE = ReplacingMergeTree PARTITION BY ${partition} ORDER BY ${key}`,
    `INSERT INTO ${rebuilt} SELECT * FROM ${table}`,
    // The orders view follows the name: after the exchange it feeds from the new table.
    `EXCHANGE TABLES ${table} AND ${rebuilt}`,
    `DROP TABLE ${rebuilt}`,
  ];
}

/**
 * History tables written by the history service (docs/history.md explains the keys).
 * ReplacingMergeTree keyed by the record's identity: a replay inserts rows with the same
 * key, which merges remove; queries that must be exact before merges read with FINAL or
 * LIMIT 1 BY the id. Events and orders are keyed by the message id, never its time: a
 * message sent twice is one row whatever time each copy was given.
 */
export const HISTORY_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'events, identity changes, lifecycle transitions',
    statements: [
      `CREATE TABLE IF NOT EXISTS events (
        message_id String,
        member_id String,
        type LowCardinality(String),
        event LowCardinality(String),
        name String,
        user_id String,
        anonymous_id String,
        ts DateTime64(3, 'UTC'),
        received_at DateTime64(3, 'UTC'),
        source LowCardinality(String),
        order_id String,
        total Decimal(18, 2),
        currency LowCardinality(String),
        utm_source LowCardinality(String),
        utm_medium LowCardinality(String),
        utm_campaign String,
        properties String,
        context String,
        traits String
      ) ENGINE = ReplacingMergeTree
      PARTITION BY toYYYYMM(ts)
      ORDER BY (member_id, message_id)`,
      `CREATE TABLE IF NOT EXISTS identity_changes (
        action LowCardinality(String),
        member_id String,
        kind LowCardinality(String),
        identity_hash String,
        other_member_id String,
        at DateTime64(3, 'UTC'),
        message_id String
      ) ENGINE = ReplacingMergeTree
      PARTITION BY toYYYYMM(at)
      ORDER BY (member_id, action, kind, identity_hash, other_member_id, message_id)`,
      `CREATE TABLE IF NOT EXISTS lifecycle_transitions (
        id String,
        member_id String,
        from_stage LowCardinality(String),
        to_stage LowCardinality(String),
        at DateTime64(3, 'UTC'),
        cause_event_id String,
        reason LowCardinality(String)
      ) ENGINE = ReplacingMergeTree
      PARTITION BY toYYYYMM(at)
      ORDER BY (member_id, at, id)`,
    ],
  },
  {
    version: 2,
    name: 'segment changes',
    statements: [
      `CREATE TABLE IF NOT EXISTS segment_changes (
        id String,
        member_id String,
        segment_id LowCardinality(String),
        rule_version UInt32,
        change LowCardinality(String),
        at DateTime64(3, 'UTC'),
        cause_event_id String,
        values String
      ) ENGINE = ReplacingMergeTree
      PARTITION BY toYYYYMM(at)
      ORDER BY (segment_id, at, member_id, id)`,
    ],
  },
  {
    version: 3,
    name: 'trigger firings',
    statements: [
      `CREATE TABLE IF NOT EXISTS trigger_firings (
        id String,
        member_id String,
        rule_id LowCardinality(String),
        rule_version UInt32,
        outcome LowCardinality(String),
        reason LowCardinality(String),
        at DateTime64(3, 'UTC'),
        cause_event_id String,
        business_line LowCardinality(String),
        values String
      ) ENGINE = ReplacingMergeTree
      PARTITION BY toYYYYMM(at)
      ORDER BY (rule_id, at, member_id, id)`,
    ],
  },
  {
    version: 4,
    name: 'orders',
    statements: [
      `CREATE TABLE IF NOT EXISTS orders (
        message_id String,
        member_id String,
        order_id String,
        kind LowCardinality(String),
        at DateTime64(3, 'UTC'),
        amount Decimal(18, 2),
        discount Decimal(18, 2),
        coupon String,
        currency LowCardinality(String),
        products UInt32
      ) ENGINE = ReplacingMergeTree
      PARTITION BY toYYYYMM(at)
      ORDER BY (member_id, message_id)`,
      // Filled from the events table as rows arrive (no work in the history service), and once
      // from the events already there; both paths write the same key, which merges remove.
      `CREATE MATERIALIZED VIEW IF NOT EXISTS orders_from_events TO orders AS ${ORDERS_FROM_EVENTS}`,
      `INSERT INTO orders ${ORDERS_FROM_EVENTS}`,
    ],
  },
  {
    version: 5,
    name: 'events and orders keyed by message id, not by time',
    skipWhen: `SELECT count() AS rekeyed FROM system.tables
      WHERE database = currentDatabase() AND name IN ('events', 'orders') AND sorting_key = 'member_id, message_id'
      HAVING rekeyed = 2`,
    statements: [...rekey('events', 'toYYYYMM(ts)', '(member_id, message_id)'), ...rekey('orders', 'toYYYYMM(at)', '(member_id, message_id)')],
  },
];
