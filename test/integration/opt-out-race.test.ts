import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKafka } from '../../lib/kafka/client.ts';
import type { TopicCodecs } from '../../lib/kafka/codecs.ts';
import type { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRedis } from '../../lib/redis.ts';
import { RuleStore } from '../../lib/rule-store/rule-store.ts';
import type { TriggerFiringRecord } from '../../schemas/records.ts';
import type { Topics } from '../../schemas/topics.ts';
import { startIngest } from '../harness/ingest.ts';
import { lookupMember, processorTestTopics, startProcessor } from '../harness/processor-service.ts';
import { consumeRange, highWatermarks } from '../harness/read-range.ts';
import { PROCESSOR_TEST_TOPICS } from '../harness/services.ts';
import { until } from '../harness/until.ts';

const services = inject('services');
const logger = createLogger({ service: 'opt-out-race-test', level: 'fatal' });
const kafka = createKafka({ brokers: services.kafkaBrokers, clientId: 'opt-out-race-test' }, logger);
const run = `${Date.now()}`;
const redis = createRedis(services.redisUrl);
let topics: Topics;
let codecs: TopicCodecs;
let producer: TopicProducer;

beforeAll(async () => {
  await redis.connect();
  ({ topics, codecs, producer } = await processorTestTopics(services.kafkaBrokers));
});
afterAll(async () => {
  await producer.disconnect();
  await redis.quit();
});

/** The opt-outs shops send: the trait in either spelling, the value as a boolean, text or number. */
const OPT_OUTS: Record<string, unknown>[] = [
  { marketing_opt_out: true },
  { marketing_opt_out: 'true' },
  { marketing_opt_out: 1 },
  { marketing_opt_out: 'yes' },
  { marketingOptOut: true },
];
const PEOPLE = 20;

describe('marketing opt-out across partitions (needs Kafka, Redis)', () => {
  it('an opt-out identify (keyed by user id) and a marketing event (keyed by anonymous id) in one batch: 0 of 20 fired, and 20 of 20 without the opt-out', async () => {
    const prefix = `oo${run}:`;
    await new RuleStore(redis, prefix).write(
      'promo',
      0,
      {
        id: 'promo',
        kind: 'trigger',
        name: 'Promo',
        description: '',
        on: { event: 'Promo Viewed' },
        controls: {},
        businessLine: 'default',
        condition: true,
        active: true,
        updatedAt: 0,
        updatedBy: 'test',
      },
      { actor: 'test', action: 'create', before: null, at: 0 },
    );
    const processor = await startProcessor(services.kafkaBrokers, services.redisUrl, {
      REDIS_KEY_PREFIX: prefix,
      PROCESSOR_GROUP_ID: `oo-${run}`,
      PROCESSOR_NEW_GROUP_STARTS_AT: 'latest',
      // Event time follows the wall clock soon after the batch, so firings waiting for consent go out a second later.
      PROCESSOR_QUIET_AFTER_MS: '300',
      PROCESSOR_ALLOWED_LATENESS_MS: '200',
      TRIGGER_CONSENT_WAIT_MS: '1000',
      TRIGGER_DAILY_CAP: '100',
    });
    const ingest = await startIngest(services.kafkaBrokers, { KAFKA_TOPIC_EVENTS: PROCESSOR_TEST_TOPICS.events });
    try {
      await until('the processor has its partitions', async () => ((await fetch(`${processor.url}/readyz`)).status === 200 ? true : undefined));
      const marks = await highWatermarks(kafka, topics.triggers.name);
      const batch = Array.from({ length: PEOPLE }, (_, i) => [
        { type: 'identify', userId: `oo-out-${run}-${i}`, anonymousId: `oo-out-anon-${run}-${i}`, traits: OPT_OUTS[i % OPT_OUTS.length] },
        { type: 'track', anonymousId: `oo-out-anon-${run}-${i}`, event: 'Promo Viewed' },
        { type: 'identify', userId: `oo-in-${run}-${i}`, anonymousId: `oo-in-anon-${run}-${i}`, traits: { plan: 'gold' } },
        { type: 'track', anonymousId: `oo-in-anon-${run}-${i}`, event: 'Promo Viewed' },
      ]).flat();
      const sent = await fetch(`${ingest.url}/v1/batch`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from('wk_web:').toString('base64')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ batch, sentAt: new Date().toISOString() }),
      });
      expect(sent.status).toBe(200);

      const memberOf = async (userId: string) => (await lookupMember(processor.url, 'user', userId))?.memberId;
      const optedOut = new Set<string>();
      const optedIn = new Set<string>();
      for (let i = 0; i < PEOPLE; i++) {
        optedOut.add(await until(`person ${i} (opted out) is applied`, () => memberOf(`oo-out-${run}-${i}`)));
        optedIn.add(await until(`person ${i} is applied`, () => memberOf(`oo-in-${run}-${i}`)));
      }
      const firings = await until(
        'a promo outcome for each of the 40 people',
        async () => {
          const read: TriggerFiringRecord[] = [];
          await consumeRange(kafka, codecs, topics.triggers, marks, await highWatermarks(kafka, topics.triggers.name), async (r) => {
            if (r.ruleId === 'promo' && (optedOut.has(r.memberId) || optedIn.has(r.memberId))) read.push(r);
          });
          return read.length >= 2 * PEOPLE ? read : undefined;
        },
        30_000,
        500,
      );
      const outcome = (members: Set<string>) => firings.filter((f) => members.has(f.memberId)).map((f) => `${f.outcome}${f.reason ? ` ${f.reason}` : ''}`);
      expect(outcome(optedOut)).toEqual(Array(PEOPLE).fill('suppressed opted_out'));
      expect(outcome(optedIn)).toEqual(Array(PEOPLE).fill('fired'));
    } finally {
      await ingest.stop();
      await processor.service.lifecycle.stop();
    }
  });
});
