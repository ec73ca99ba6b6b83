import type { Redis } from 'ioredis';
import { DEFAULT_COUNTERS, DEFAULT_WINDOWS_DAYS } from '../../domain/member/counters.ts';
import { DEFAULT_LIFECYCLE } from '../../domain/member/lifecycle.ts';
import { memberView } from '../../domain/member/member-view.ts';
import { DEFAULT_RFM } from '../../domain/member/rfm.ts';
import { keyedHash } from '../../domain/privacy/keyed-hash.ts';
import { NO_RULES, type RuleSet } from '../../domain/rules/rule-set.ts';
import { ManualClock } from '../../lib/clock.ts';
import { RedisPipelineClient } from '../../lib/redis/pipeline-client.ts';
import { DEFAULT_IDENTITY_TRAITS } from '../../processors/identity/identities.ts';
import { IdentityResolver } from '../../processors/identity/resolver.ts';
import { BatchProcessor, type HistoryPublished, type SourceRecord } from '../../processors/pipeline/batch-processor.ts';
import { MemberDriver } from '../../processors/pipeline/member-driver.ts';
import { MemberLocks } from '../../processors/pipeline/member-locks.ts';
import { OutboxInFlight } from '../../processors/pipeline/outbox-in-flight.ts';
import { TimerSweeper } from '../../processors/pipeline/timer-sweeper.ts';
import { keysWithPrefix } from '../../processors/store/keys.ts';
import { MemberStore, type OutboxEntry, outputsIn } from '../../processors/store/member-store.ts';
import { loadSchemaCatalog } from '../../schemas/catalog.ts';
import { AvroCodec } from '../../schemas/codec.ts';
import type { EventRecord, LifecycleTransitionRecord, SegmentChangeRecord, TriggerFiringRecord } from '../../schemas/records.ts';
import { FileSchemaRegistry } from '../../schemas/schema-registry.ts';
import { testEvent } from './test-event.ts';

export const TOPIC = 'segstream.events.v1';
export const STATE_CONFIG = { counters: DEFAULT_COUNTERS, longestWindowDays: 365, lifecycle: DEFAULT_LIFECYCLE };
/** The segment, RFM and trigger settings processors get by default. */
export const RULE_SETTINGS = { state: STATE_CONFIG, windowsDays: DEFAULT_WINDOWS_DAYS, rfm: DEFAULT_RFM, triggers: { dailyCap: 3, defaultTimeZone: 'UTC' } };

/**
 * The processor's state machinery against a real Redis, without Kafka: records are fed
 * straight to the batch processor and time is moved by hand. Every test gets its own
 * key prefix, unless it starts a second replica on the prefix of the first.
 */
export async function processorState(redis: Redis, redisUrl: string, start: Date, options: { rules?: () => RuleSet; keyPrefix?: string } = {}) {
  const rules = options.rules ?? (() => NO_RULES);
  const segments = RULE_SETTINGS;
  const clock = new ManualClock(start);
  // Another replica of the same processor shares the prefix of the first.
  const keyPrefix = options.keyPrefix ?? `t${Date.now()}${Math.random().toString(36).slice(2, 8)}:`;
  const keys = keysWithPrefix(keyPrefix);
  const hash = keyedHash('test-secret');
  // As the processor does: member state over a pipeline connection (idle, it does not hold the test process open).
  const memberRedis = new RedisPipelineClient(redisUrl);
  const store = new MemberStore(memberRedis, keys);
  const resolver = new IdentityResolver(memberRedis, keys, hash, DEFAULT_IDENTITY_TRAITS);
  const catalog = await loadSchemaCatalog();
  const latest = catalog.latest('segstream.Event');
  const codec = await AvroCodec.create<EventRecord>(new FileSchemaRegistry(catalog), latest.subject, latest.schema);
  const limits = { retentionDays: 400, futureToleranceMs: 3_600_000, identityTraits: DEFAULT_IDENTITY_TRAITS };
  const timerShards = 4;
  const inFlight = new OutboxInFlight();
  const driver = new MemberDriver(store, inFlight, { dedupHorizonMs: 7 * 86_400_000, dedupKeepNewest: 5, timerShards: () => timerShards, maxAttempts: 5 });
  const processor = new BatchProcessor({ codec, resolver, store, driver, clock, hash, settings: segments, rules, limits, locks: new MemberLocks() });
  const sweeper = new TimerSweeper({ redis, keys, driver, clock, settings: segments, rules });
  let nextOffset = 0;
  let seq = 0;

  /** Publishing stand-in: takes the outboxes and removes what it took, as a completed unit of work does. */
  const drain = async (outboxes: ReadonlyMap<string, readonly OutboxEntry[]>) => {
    await store.acknowledgeOutbox(outboxes);
    inFlight.release(outboxes);
    const outputs = outputsIn(outboxes);
    return {
      lifecycle: outputs.transitions,
      segmentChanges: outputs.segmentChanges,
      triggerFirings: outputs.triggerFirings,
      identityChanges: outputs.identityChanges,
    };
  };

  return {
    clock,
    settings: segments,
    keyPrefix,
    keys,
    hash,
    store,
    driver,
    drain,
    resolver,
    codec,
    event(partial: Partial<EventRecord>): EventRecord {
      return testEvent(`msg-${++seq}`, clock.now(), partial);
    },
    /** Feeds records at the next offsets of partition 0 (or at given offsets, for replays). */
    async feed(events: readonly EventRecord[], offsets?: readonly number[], historyPublished?: HistoryPublished) {
      const records: SourceRecord[] = events.map((event, i) => ({
        partition: 0,
        offset: String(offsets?.[i] ?? nextOffset++),
        timestamp: event.receivedAt,
        key: null,
        value: codec.encode(event),
      }));
      const result = await processor.process(TOPIC, records, historyPublished);
      return { ...result, ...(await drain(result.outboxes)) };
    },
    async feedRaw(records: readonly SourceRecord[]) {
      return processor.process(TOPIC, records);
    },
    /** Fires every due timer; returns the lifecycle transitions and segment changes published. */
    async sweepOutputs() {
      const lifecycle: LifecycleTransitionRecord[] = [];
      const segmentChanges: SegmentChangeRecord[] = [];
      const triggerFirings: TriggerFiringRecord[] = [];
      for (let shard = 0; shard < timerShards; shard++) {
        const drained = await drain((await sweeper.sweep(shard, clock.now())).outboxes);
        lifecycle.push(...drained.lifecycle);
        segmentChanges.push(...drained.segmentChanges);
        triggerFirings.push(...drained.triggerFirings);
      }
      return { lifecycle, segmentChanges, triggerFirings };
    },
    async sweep() {
      return (await this.sweepOutputs()).lifecycle;
    },
    async view(kind: string, value: string) {
      const memberId = await resolver.memberOf(kind, value);
      if (!memberId) return null;
      const loaded = (await store.load([{ memberId, messageIds: [] }])).get(memberId);
      return loaded ? memberView(loaded.state, clock.now(), DEFAULT_WINDOWS_DAYS, DEFAULT_RFM) : null;
    },
  };
}
