import type { FastifyInstance } from 'fastify';
import { DEFAULT_COUNTERS } from '../domain/member/counters.ts';
import type { LifecycleConfig } from '../domain/member/lifecycle.ts';
import type { StateConfig } from '../domain/member/member-state.ts';
import type { RfmConfig } from '../domain/member/rfm.ts';
import type { RuleSettings } from '../domain/member/triggers.ts';
import { keyedHash } from '../domain/privacy/keyed-hash.ts';
import { ANALYSES } from '../lib/analytics/catalog.ts';
import { RemoteAnalysisRunner } from '../lib/analytics/remote-runner.ts';
import type { Clock } from '../lib/clock.ts';
import type { ConfigOf } from '../lib/config/load.ts';
import { ConfigError } from '../lib/errors.ts';
import { listeningUrl } from '../lib/http/listening-url.ts';
import { createKafka } from '../lib/kafka/client.ts';
import { loadTopicSetup } from '../lib/kafka/codecs.ts';
import { adminPartitionPositions } from '../lib/kafka/partition-positions.ts';
import { TopicProducer } from '../lib/kafka/topic-producer.ts';
import { ServiceLifecycle } from '../lib/lifecycle.ts';
import { isTimeZone } from '../lib/local-time.ts';
import type { Logger } from '../lib/logger.ts';
import { RedisPipelineClient } from '../lib/redis/pipeline-client.ts';
import { createRedis } from '../lib/redis.ts';
import { ActiveRules } from '../lib/rule-store/active-rules.ts';
import { RuleStore } from '../lib/rule-store/rule-store.ts';
import type { processorConfigSchema } from './config.ts';
import { IdentityResolver } from './identity/resolver.ts';
import { ProcessorMetrics } from './metrics.ts';
import { BatchProcessor } from './pipeline/batch-processor.ts';
import { ConsumerLoop } from './pipeline/consumer-loop.ts';
import { EventClock } from './pipeline/event-clock.ts';
import { MemberDriver } from './pipeline/member-driver.ts';
import { MemberEventEncoder } from './pipeline/member-events.ts';
import { MemberLocks } from './pipeline/member-locks.ts';
import { OutboxInFlight } from './pipeline/outbox-in-flight.ts';
import { SegmentBackfill } from './pipeline/segment-backfill.ts';
import { TimerLoop } from './pipeline/timer-loop.ts';
import { TimerSweeper } from './pipeline/timer-sweeper.ts';
import { UnitCompletion } from './pipeline/unit-completion.ts';
import { RulesInspector } from './rules-inspector.ts';
import { buildProcessorServer } from './server.ts';
import { keysWithPrefix } from './store/keys.ts';
import { MemberStore } from './store/member-store.ts';
import { PartitionProgress } from './store/partition-progress.ts';

export type ProcessorConfig = ConfigOf<(typeof processorConfigSchema)['vars']>;

function fourAscending(variable: string, values: readonly string[]): [number, number, number, number] {
  const numbers = values.map(Number);
  if (numbers.length !== 4 || numbers.some((n, i) => i > 0 && n <= (numbers[i - 1] as number))) {
    throw new ConfigError('processors', [{ variable, expected: 'four ascending numbers (e.g. 7,30,90,180)', received: JSON.stringify(values.join(',')) }]);
  }
  return numbers as [number, number, number, number];
}

/** Lifecycle, RFM, counter and trigger settings from configuration, checked. */
export function stateSettings(config: ProcessorConfig): RuleSettings & { state: StateConfig; rfm: RfmConfig; windowsDays: number[] } {
  const lifecycle: LifecycleConfig = {
    newDays: config.LIFECYCLE_NEW_DAYS,
    activeDays: config.LIFECYCLE_ACTIVE_DAYS,
    activeMinOrders: config.LIFECYCLE_ACTIVE_MIN_ORDERS,
    silentAfterDays: config.LIFECYCLE_SILENT_AFTER_DAYS,
    churnedAfterDays: config.LIFECYCLE_CHURNED_AFTER_DAYS,
  };
  if (lifecycle.churnedAfterDays <= lifecycle.silentAfterDays) {
    throw new ConfigError('processors', [
      {
        variable: 'LIFECYCLE_CHURNED_AFTER_DAYS',
        expected: `more than LIFECYCLE_SILENT_AFTER_DAYS (${lifecycle.silentAfterDays})`,
        received: String(lifecycle.churnedAfterDays),
      },
    ]);
  }
  if (config.RFM_GROUP_CUTS.length !== 3) {
    throw new ConfigError('processors', [
      {
        variable: 'RFM_GROUP_CUTS',
        expected: 'three numbers: recency days, orders, amount (e.g. 30,2,300)',
        received: JSON.stringify(config.RFM_GROUP_CUTS.join(',')),
      },
    ]);
  }
  const [cutRecency, cutOrders, cutAmount] = config.RFM_GROUP_CUTS.map(Number);
  const rfm: RfmConfig = {
    windowDays: config.RFM_WINDOW_DAYS,
    recencyDays: fourAscending('RFM_RECENCY_DAYS', config.RFM_RECENCY_DAYS),
    frequencyOrders: fourAscending('RFM_FREQUENCY_ORDERS', config.RFM_FREQUENCY_ORDERS),
    monetaryAmount: fourAscending('RFM_MONETARY_AMOUNT', config.RFM_MONETARY_AMOUNT),
    groupCut: { recencyDays: cutRecency as number, orders: cutOrders as number, amount: cutAmount as number },
  };
  const windowsDays = config.COUNTER_WINDOWS_DAYS.map(Number);
  const longestWindowDays = Math.max(...windowsDays, config.RFM_WINDOW_DAYS);
  if (!isTimeZone(config.TRIGGER_DEFAULT_TIME_ZONE))
    throw new ConfigError('processors', [
      { variable: 'TRIGGER_DEFAULT_TIME_ZONE', expected: 'an IANA time zone such as Asia/Shanghai or UTC', received: config.TRIGGER_DEFAULT_TIME_ZONE },
    ]);
  const triggers = {
    dailyCap: config.TRIGGER_DAILY_CAP,
    defaultTimeZone: config.TRIGGER_DEFAULT_TIME_ZONE,
    optOutTraits: config.TRIGGER_OPT_OUT_TRAITS,
    consentWaitMs: config.TRIGGER_CONSENT_WAIT_MS,
  };
  return { state: { counters: DEFAULT_COUNTERS, longestWindowDays, lifecycle }, rfm, windowsDays, triggers };
}

export interface ProcessorService {
  readonly lifecycle: ServiceLifecycle;
  readonly metrics: ProcessorMetrics;
  url(): string;
}

export async function createProcessorService(config: ProcessorConfig, clock: Clock, logger: Logger): Promise<ProcessorService> {
  const settings = stateSettings(config);
  const { topics, codecs } = await loadTopicSetup(config);
  const kafkaSettings = { brokers: config.KAFKA_BROKERS, clientId: `${config.KAFKA_CLIENT_ID}-processor` };
  const kafka = createKafka(kafkaSettings, logger);
  const producer = new TopicProducer(kafkaSettings, codecs);
  // A fetch returns as soon as anything is there (live latency). In a backlog it brings up
  // to maxBytesPerPartition of each partition: small enough that one fetch reaches every
  // partition (kafkajs asks for at most 10 MB in all), so partitions advance together in
  // receive time and links across them seldom wait (with 4 MB, the first slices ran days
  // ahead on the few partitions fetched first, and half of the events were held back).
  const consumer = kafka.consumer({
    groupId: config.PROCESSOR_GROUP_ID,
    sessionTimeout: config.PROCESSOR_SESSION_TIMEOUT_MS,
    // Fetching only queues records, so a replica rejoins quickly; no need for kafkajs's 60 s.
    rebalanceTimeout: config.PROCESSOR_REBALANCE_TIMEOUT_MS,
    heartbeatInterval: Math.max(1_000, Math.floor(config.PROCESSOR_SESSION_TIMEOUT_MS / 10)),
    maxWaitTimeInMs: 100,
    minBytes: 1,
    maxBytesPerPartition: 256 * 1024,
  });
  const admin = kafka.admin();
  const redis = createRedis(config.REDIS_URL);
  const keys = keysWithPrefix(config.REDIS_KEY_PREFIX);
  const hash = keyedHash(config.SEGSTREAM_HMAC_SECRET);
  // Member state and identities: many commands per batch, over a connection of their own built for that.
  const memberRedis = new RedisPipelineClient(config.REDIS_URL);
  const store = new MemberStore(memberRedis, keys);
  const resolver = new IdentityResolver(memberRedis, keys, hash, config.PROCESSOR_IDENTITY_TRAITS);
  const metrics = new ProcessorMetrics();
  const inFlight = new OutboxInFlight();
  let timerShards: number | undefined;
  const progress = new PartitionProgress(memberRedis, keys.partitions(topics.events.name));
  const positions = adminPartitionPositions(admin, topics.events.name, config.PROCESSOR_GROUP_ID);
  const eventClock = new EventClock({
    progress,
    ends: () => positions.ends(),
    partitions: () => timerShards,
    clock,
    settings: { allowedLatenessMs: config.PROCESSOR_ALLOWED_LATENESS_MS, quietMs: config.PROCESSOR_QUIET_AFTER_MS },
  });
  const driver = new MemberDriver(store, inFlight, {
    dedupHorizonMs: config.PROCESSOR_DEDUP_HORIZON_HOURS * 3_600_000,
    dedupKeepNewest: config.PROCESSOR_DEDUP_KEEP_IDS,
    timerShards: () => timerShards,
    maxAttempts: 5,
  });
  const ruleStore = new RuleStore(redis, config.REDIS_KEY_PREFIX);
  const ruleEnvironment = { counters: settings.state.counters.map((c) => c.name), windowsDays: settings.windowsDays, computedTraits: new Map() };
  const rules = new ActiveRules(ruleStore, ruleEnvironment, logger);
  rules.onReload(() => {
    const { segments, triggers, computed } = rules.current();
    for (const [kind, list] of [
      ['segment', segments],
      ['trigger', triggers],
      ['computed_trait', computed],
    ] as const)
      metrics.activeRules.set({ kind }, list.length);
  });
  const inspector = new RulesInspector({ rules: ruleStore, members: store, environment: ruleEnvironment, settings, ruleSet: () => rules.current(), clock });
  const completion = new UnitCompletion({
    producer,
    topics,
    memberEvents: new MemberEventEncoder(codecs.codecFor(topics.events), codecs.codecFor(topics.memberEvents)),
    store,
    inFlight,
    metrics,
    logger,
  });
  // A member's latest events come from the history service, which owns ClickHouse.
  const history = config.PROCESSOR_HISTORY_URL
    ? new RemoteAnalysisRunner({ url: config.PROCESSOR_HISTORY_URL, token: config.PROCESSOR_HISTORY_TOKEN as string })
    : undefined;
  const memberEvents = ANALYSES.find((a) => a.name === 'member-events');
  let loop: ConsumerLoop | undefined;
  let timers: TimerLoop | undefined;
  let backfill: SegmentBackfill | undefined;
  let server: Awaited<ReturnType<typeof buildProcessorServer>> | undefined;

  const lifecycle = new ServiceLifecycle({ logger, stopTimeoutMs: 15_000 });
  lifecycle.add({ name: 'redis', start: () => redis.connect(), stop: async () => void (await redis.quit()) });
  lifecycle.add({ name: 'member redis', start: async () => void (await memberRedis.call('PING')), stop: () => memberRedis.close() });
  lifecycle.add({ name: 'rules', start: () => rules.start(config.PROCESSOR_RULES_POLL_MS), stop: () => rules.stop() });
  lifecycle.add({ name: 'kafka-producer', start: () => producer.connect(), stop: () => producer.disconnect() });
  lifecycle.add({
    name: 'kafka-consumer',
    start: async () => {
      await admin.connect();
      const [metadata] = (await admin.fetchTopicMetadata({ topics: [topics.events.name] })).topics;
      const shards = metadata?.partitions.length ?? 0;
      timerShards = shards;
      if (shards === 0) throw new Error(`topic ${topics.events.name} has no partitions (does it exist?)`);
      const processor = new BatchProcessor({
        codec: codecs.codecFor(topics.events),
        resolver,
        store,
        driver,
        clock,
        hash,
        settings,
        rules: () => rules.current(),
        limits: {
          retentionDays: config.PROCESSOR_RETENTION_DAYS,
          futureToleranceMs: config.PROCESSOR_FUTURE_TOLERANCE_MS,
          identityTraits: config.PROCESSOR_IDENTITY_TRAITS,
        },
        locks: new MemberLocks(),
        fences: { partitions: () => timerShards, frontiers: (partitions) => progress.frontiers(partitions) },
      });
      loop = new ConsumerLoop({
        consumer,
        processor,
        completion,
        progress,
        positions,
        topics,
        metrics,
        clock,
        logger,
        options: {
          batchSize: config.PROCESSOR_BATCH_SIZE,
          concurrency: config.PROCESSOR_CONCURRENCY,
          maxQueued: config.PROCESSOR_BATCH_SIZE * config.PROCESSOR_CONCURRENCY * 4,
          commitIntervalMs: config.PROCESSOR_COMMIT_INTERVAL_MS,
          retryDelayMs: 1_000,
          crashAfterStateProbability: config.PROCESSOR_CRASH_AFTER_STATE_PROBABILITY,
          newGroupStartsAt: config.PROCESSOR_NEW_GROUP_STARTS_AT,
          caughtUpIntervalMs: config.PROCESSOR_TIMER_INTERVAL_MS,
          ingestDelayMs: config.PROCESSOR_INGEST_DELAY_MS,
        },
      });
      await loop.start();
    },
    // Stop fetching, finish and commit what was taken, then leave the group so the
    // partitions go to the other replicas.
    stop: async () => {
      await loop?.drain();
      await consumer.disconnect();
      await admin.disconnect();
    },
  });
  lifecycle.add({
    name: 'timers',
    start: async () => {
      const sweeper = new TimerSweeper({ redis, keys, driver, clock, settings, rules: () => rules.current() });
      timers = new TimerLoop({
        sweeper,
        completion,
        firesUpTo: () => eventClock.now(),
        ownedShards: () => loop?.ownedPartitions ?? [],
        intervalMs: config.PROCESSOR_TIMER_INTERVAL_MS,
        metrics,
        logger,
      });
      timers.start();
    },
    stop: async () => timers?.stop(),
  });
  lifecycle.add({
    name: 'segment-backfill',
    start: async () => {
      backfill = new SegmentBackfill({
        members: store,
        driver,
        completion,
        rules: ruleStore,
        ruleSet: () => rules.current(),
        settings,
        clock,
        eventTime: () => eventClock.now(),
        logger,
        timerShards: () => timerShards,
        pageSize: config.PROCESSOR_BACKFILL_PAGE_SIZE,
        leaseMs: 15_000,
      });
      backfill.start(1_000);
      rules.onReload(() => backfill?.trigger());
    },
    stop: async () => backfill?.stop(),
  });
  lifecycle.add({
    name: 'http',
    start: async () => {
      server = await buildProcessorServer({
        operationsTokens: config.OPERATIONS_TOKENS,
        tokens: config.PROCESSOR_API_TOKENS,
        identityKinds: ['user', 'anon', 'device', ...config.PROCESSOR_IDENTITY_TRAITS],
        resolver,
        store,
        latestEvents:
          history && memberEvents
            ? (members: readonly string[], limit: number) => history.run(memberEvents, { members, limit }) as Promise<unknown[]>
            : undefined,
        clock,
        windowsDays: settings.windowsDays,
        rfm: settings.rfm,
        metrics,
        inspector,
        logger,
        ready: async () =>
          (await redis.ping().then(
            () => true,
            () => false,
          )) && loop?.joined === true,
      });
      const address = await server.listen({ host: config.PROCESSOR_HOST, port: config.PROCESSOR_PORT });
      logger.info({ address, group: config.PROCESSOR_GROUP_ID, topic: topics.events.name }, 'processor running');
    },
    stop: async () => server?.close(),
  });
  return {
    lifecycle,
    metrics,
    url: () => listeningUrl(server as FastifyInstance),
  };
}
