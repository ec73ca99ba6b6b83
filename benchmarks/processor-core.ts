/**
 * CPU per event of applying events alone: identity resolution, member state, outboxes and
 * the Redis round trips, with no Kafka, no history and no service around them.
 *   ./segstream bench processor-core [events] [concurrency] [records per partition per slice]
 * The full benchmark (`processor`) varies by ±20% from run to run on a shared VM, as all
 * of its parts compete for two cores; this one varies by a few percent, so it is the one to
 * compare a change of the applying code by (run it before and after, alternately).
 * Records are the generated workload, Avro-encoded, spread over 16 partitions by the
 * events topic key; slices take two partitions each, as the consumer loop does.
 */
import { resolve } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { keyedHash } from '../domain/privacy/keyed-hash.ts';
import { NO_RULES } from '../domain/rules/rule-set.ts';
import { ManualClock } from '../lib/clock.ts';
import { RedisPipelineClient } from '../lib/redis/pipeline-client.ts';
import { DEFAULT_IDENTITY_TRAITS } from '../processors/identity/identities.ts';
import { IdentityResolver } from '../processors/identity/resolver.ts';
import { BatchProcessor, type SourceRecord } from '../processors/pipeline/batch-processor.ts';
import { MemberDriver } from '../processors/pipeline/member-driver.ts';
import { MemberLocks } from '../processors/pipeline/member-locks.ts';
import { OutboxInFlight } from '../processors/pipeline/outbox-in-flight.ts';
import { timerShardOf } from '../processors/pipeline/timer-shards.ts';
import { keysWithPrefix } from '../processors/store/keys.ts';
import { MemberStore } from '../processors/store/member-store.ts';
import { loadSchemaCatalog } from '../schemas/catalog.ts';
import { AvroCodec } from '../schemas/codec.ts';
import type { EventRecord } from '../schemas/records.ts';
import { FileSchemaRegistry } from '../schemas/schema-registry.ts';
import { eventsTopicKey } from '../schemas/topics.ts';
import { terminate } from '../scripts/stack/processes.ts';
import { startLocalRedis } from '../scripts/stack/redis-server.ts';
import { RULE_SETTINGS } from '../test/harness/processor-state.ts';
import { toEventRecord } from '../test/workload/event-record.ts';
import { generateWorkload } from '../test/workload/generator.ts';
import { writeResults } from './results.ts';
import { cpuSecondsOf } from './support/cpu.ts';

const target = Number(process.argv[2] ?? 100_000);
const concurrency = Number(process.argv[3] ?? 2);
const perPartition = Number(process.argv[4] ?? 500);
const PARTITIONS = 16;

const redisServer = await startLocalRedis(resolve('.segstream/bench'));
const memberRedis = new RedisPipelineClient(redisServer.url);
try {
  const catalog = await loadSchemaCatalog();
  const latest = catalog.latest('segstream.Event');
  const codec = await AvroCodec.create<EventRecord>(new FileSchemaRegistry(catalog), latest.subject, latest.schema);
  const days = 60;
  const now = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  const partitions: SourceRecord[][] = Array.from({ length: PARTITIONS }, () => []);
  let events = 0;
  for (const event of generateWorkload({ seed: 5, members: Math.ceil(target / 60), days, start: now - days * 86_400_000 })) {
    if (event.at > now) continue;
    const key = eventsTopicKey(event.message);
    // Any stable spread by key does (Kafka's own partitioner is murmur2); the timer-shard hash is one.
    const partition = timerShardOf(key, PARTITIONS);
    const records = partitions[partition] as SourceRecord[];
    const receivedAt = event.at + 200;
    const value = codec.encode(toEventRecord(event.message, receivedAt));
    records.push({ partition, offset: String(records.length), timestamp: receivedAt, key: Buffer.from(key), value });
    if (++events >= target) break;
  }
  // Slices of two partitions each; worker w applies the pairs w, w + concurrency, ... in
  // order, so (as in the consumer loop) a partition is never in two slices at once.
  const workerSlices: SourceRecord[][][] = Array.from({ length: concurrency }, () => []);
  for (let from = 0; partitions.some((records) => records.length > from); from += perPartition)
    for (let p = 0; p < PARTITIONS; p += 2) {
      const slice = [
        ...(partitions[p] as SourceRecord[]).slice(from, from + perPartition),
        ...(partitions[p + 1] as SourceRecord[]).slice(from, from + perPartition),
      ];
      if (slice.length > 0) (workerSlices[(p / 2) % concurrency] as SourceRecord[][]).push(slice);
    }
  const sliceCount = workerSlices.reduce((sum, list) => sum + list.length, 0);

  const keys = keysWithPrefix(`core${Date.now()}:`);
  const hash = keyedHash('benchmark-secret-0123456789');
  const store = new MemberStore(memberRedis, keys);
  const inFlight = new OutboxInFlight();
  const processor = new BatchProcessor({
    codec,
    resolver: new IdentityResolver(memberRedis, keys, hash, DEFAULT_IDENTITY_TRAITS),
    store,
    driver: new MemberDriver(store, inFlight, { dedupHorizonMs: 7 * 86_400_000, dedupKeepNewest: 1_000, timerShards: () => PARTITIONS, maxAttempts: 5 }),
    clock: new ManualClock(new Date(now)),
    hash,
    settings: RULE_SETTINGS,
    rules: () => NO_RULES,
    limits: { retentionDays: 400, futureToleranceMs: 3_600_000, identityTraits: DEFAULT_IDENTITY_TRAITS },
    locks: new MemberLocks(),
  });

  let gcPauseMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcPauseMs += entry.duration;
  });
  gc.observe({ entryTypes: ['gc'] });
  const cpuBefore = process.cpuUsage();
  const mainBefore = cpuSecondsOf(process.pid, process.pid);
  const redisBefore = cpuSecondsOf(redisServer.pid);
  const began = performance.now();
  let applied = 0;
  await Promise.all(
    workerSlices.map(async (list) => {
      for (const slice of list) {
        // Read the count only after the await: `applied += await ...` would lose the other worker's additions.
        const result = await processor.process('events', slice);
        // As a completed unit of work does once its history is written.
        await store.acknowledgeOutbox(result.outboxes);
        inFlight.release(result.outboxes);
        applied += result.applied;
      }
    }),
  );
  const seconds = (performance.now() - began) / 1000;
  gc.disconnect();
  const cpu = process.cpuUsage(cpuBefore);
  const micros = (cpuSeconds: number) => Math.round((cpuSeconds / events) * 1e7) / 10;
  const figures = {
    events,
    applied,
    slices: sliceCount,
    concurrency,
    eventsPerSecond: Math.round(events / seconds),
    cpuMicrosPerEvent: {
      node: micros((cpu.user + cpu.system) / 1e6),
      mainThread: micros(cpuSecondsOf(process.pid, process.pid) - mainBefore),
      mainThreadGcPauses: micros(gcPauseMs / 1000),
      redis: micros(cpuSecondsOf(redisServer.pid) - redisBefore),
    },
  };
  const c = figures.cpuMicrosPerEvent;
  console.log(
    `${events.toLocaleString('en-US')} events (${applied.toLocaleString('en-US')} applied) in ${sliceCount} slices, ${concurrency} at a time: ${figures.eventsPerSecond.toLocaleString('en-US')} events/s`,
  );
  console.log(`CPU µs per event: node ${c.node} (main thread ${c.mainThread}, of it GC pauses ${c.mainThreadGcPauses}), redis ${c.redis}`);
  console.log(`written to ${writeResults('processor-core', figures)}`);
} finally {
  await memberRedis.close();
  await terminate(redisServer.pid);
}
