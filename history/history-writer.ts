import { orderAmount } from '../domain/member/order-amount.ts';
import { parseJsonObject } from '../lib/json.ts';
import { clickhouseDateTime, type Warehouse } from '../lib/warehouse/warehouse.ts';
import type { EventRecord, IdentityChangeRecord, LifecycleTransitionRecord, SegmentChangeRecord, TriggerFiringRecord } from '../schemas/records.ts';

export type DecodedHistoryEvent = { readonly memberId: string; readonly event: EventRecord };

/**
 * Member-event records (segstream.member-events.v1) as history holds them until they are
 * written: their bytes as read from Kafka, copied into one buffer. An object per event,
 * held for the second or so until a flush, outlives the young generation and makes
 * garbage collection costly; the bytes are what ClickHouse reads anyway.
 */
export interface PackedEvents {
  readonly bytes: Uint8Array;
  /** Where each record's bytes end in `bytes`. */
  readonly ends: Uint32Array;
}

export function packEvents(records: readonly Uint8Array[]): PackedEvents {
  let size = 0;
  for (const record of records) size += record.length;
  // A buffer of its own (not Node's shared pool): the fetched responses the bytes were cut from can be freed.
  const bytes = Buffer.allocUnsafeSlow(size);
  const ends = new Uint32Array(records.length);
  let at = 0;
  records.forEach((record, i) => {
    bytes.set(record, at);
    at += record.length;
    ends[i] = at;
  });
  return { bytes, ends };
}

/** Each record held, as a view into the packed buffer, in order. */
export function* packedRecords({ bytes, ends }: PackedEvents): Generator<Buffer> {
  let start = 0;
  for (const end of ends) {
    yield Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start);
    start = end;
  }
}

export const packedEventCount = (events: PackedEvents) => events.ends.length;

/** What one write puts into ClickHouse: events as packed member-event records, or as objects (DecodedHistoryBatch). */
export interface HistoryBatch<Events = PackedEvents> {
  readonly events: readonly Events[];
  readonly identityChanges: readonly IdentityChangeRecord[];
  readonly transitions: readonly LifecycleTransitionRecord[];
  readonly segmentChanges: readonly SegmentChangeRecord[];
  readonly triggerFirings: readonly TriggerFiringRecord[];
}

/** A batch whose events are all objects (as the writer needs them). */
export type DecodedHistoryBatch = HistoryBatch<DecodedHistoryEvent>;

export function historyRows(batch: HistoryBatch): number {
  let rows = batch.identityChanges.length + batch.transitions.length + batch.segmentChanges.length + batch.triggerFirings.length;
  for (const events of batch.events) rows += packedEventCount(events);
  return rows;
}

/** An event as a row of the events table, with the fields analyses filter on pulled out. */
export function eventRow(memberId: string, event: EventRecord): Record<string, unknown> {
  const properties = parseJsonObject(event.properties);
  // Most events carry no campaign; skip parsing their context.
  const campaign = (event.context.includes('"campaign"') ? (parseJsonObject(event.context).campaign ?? {}) : {}) as Record<string, unknown>;
  const amount = orderAmount(properties);
  // Decimal(18, 2): an absurd amount must not fail the whole insert (the raw value stays in properties).
  const money = Number.isFinite(amount) && Math.abs(amount) < 1e15 ? Math.round(amount * 100) / 100 : 0;
  const text = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');
  return {
    message_id: event.messageId,
    member_id: memberId,
    type: event.type,
    event: event.event ?? '',
    name: event.name ?? '',
    user_id: event.userId ?? '',
    anonymous_id: event.anonymousId ?? '',
    ts: clickhouseDateTime(event.timestamp),
    received_at: clickhouseDateTime(event.receivedAt),
    source: event.source,
    order_id: text(properties.order_id),
    total: money,
    currency: text(properties.currency),
    utm_source: text(campaign.source),
    utm_medium: text(campaign.medium),
    utm_campaign: text(campaign.name),
    properties: event.properties,
    context: event.context,
    traits: event.traits,
  };
}

/** Where history goes; a write has finished when its rows are in ClickHouse. */
export interface HistorySink {
  write(batch: HistoryBatch): Promise<void>;
}

/**
 * Writes a batch's history to ClickHouse as rows (in the history thread; embedded
 * ClickHouse takes the events as Avro instead, see events-avro.ts, and the rest from here).
 */
export class HistoryWriter {
  readonly #warehouse: Warehouse;

  constructor(warehouse: Warehouse) {
    this.#warehouse = warehouse;
  }

  async write(batch: DecodedHistoryBatch): Promise<void> {
    await this.#warehouse.insert(
      'events',
      batch.events.map((e) => eventRow(e.memberId, e.event)),
    );
    await this.writeOutcomes(batch);
  }

  /** Everything of a batch but its events: identity changes, lifecycle transitions, segment changes, trigger firings. */
  async writeOutcomes({ identityChanges, transitions, segmentChanges, triggerFirings }: Omit<HistoryBatch<unknown>, 'events'>): Promise<void> {
    await this.#warehouse.insert(
      'identity_changes',
      identityChanges.map((c) => ({
        action: c.action,
        member_id: c.memberId,
        kind: c.kind,
        identity_hash: c.identityHash,
        other_member_id: c.otherMemberId,
        at: clickhouseDateTime(c.at),
        message_id: c.messageId,
      })),
    );
    await this.#warehouse.insert(
      'lifecycle_transitions',
      transitions.map((t) => ({
        id: t.id,
        member_id: t.memberId,
        from_stage: t.fromStage ?? '',
        to_stage: t.toStage,
        at: clickhouseDateTime(t.at),
        cause_event_id: t.causeEventId ?? '',
        reason: t.reason,
      })),
    );
    await this.#warehouse.insert(
      'segment_changes',
      segmentChanges.map((c) => ({
        id: c.id,
        member_id: c.memberId,
        segment_id: c.segmentId,
        rule_version: c.ruleVersion,
        change: c.change,
        at: clickhouseDateTime(c.at),
        cause_event_id: c.causeEventId ?? '',
        values: c.values,
      })),
    );
    await this.#warehouse.insert(
      'trigger_firings',
      triggerFirings.map((f) => ({
        id: f.id,
        member_id: f.memberId,
        rule_id: f.ruleId,
        rule_version: f.ruleVersion,
        outcome: f.outcome,
        reason: f.reason ?? '',
        at: clickhouseDateTime(f.at),
        cause_event_id: f.causeEventId ?? '',
        business_line: f.businessLine ?? '',
        values: f.values,
      })),
    );
  }
}
