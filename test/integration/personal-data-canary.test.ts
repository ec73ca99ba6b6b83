import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { keyedHash } from '../../domain/privacy/keyed-hash.ts';
import { createKafka } from '../../lib/kafka/client.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRedis } from '../../lib/redis.ts';
import { EmbeddedWarehouse } from '../../lib/warehouse/embedded.ts';
import { startIngest } from '../harness/ingest.ts';
import { HISTORY_TOKEN, lookupMember, PROCESSOR_TOKEN, startHistory, startProcessor, TEST_HMAC_SECRET } from '../harness/processor-service.ts';
import { highWatermarks, type PartitionOffsets } from '../harness/read-range.ts';
import { PROCESSOR_TEST_TOPICS } from '../harness/services.ts';
import { until } from '../harness/until.ts';

/**
 * Unique phone, email and OpenID values sent through ingest in every place a shop puts
 * them, then looked for in everything the engine keeps: every topic (keys and values, read
 * as bytes), every Redis key of the run (names and values), every ClickHouse table, and
 * the services' logs at debug level.
 */
const services = inject('services');
const logger = createLogger({ service: 'canary-test', level: 'fatal' });
const kafka = createKafka({ brokers: services.kafkaBrokers, clientId: 'canary-test' }, logger);
const redis = createRedis(services.redisUrl);
const run = `${Date.now()}`;
const PHONE = `139${run.slice(-8)}`;
const EMAIL = `Canary.${run}@example.cn`;
const OPENID = `oCanary${run}M2pxb1Q9zNjWeS`;
/** What must not be found, in any case (an email may be stored lower-cased) and URL-encoded. */
const CANARIES = [PHONE, EMAIL.toLowerCase(), EMAIL.toLowerCase().replace('@', '%40'), `canary.${run}`, OPENID.toLowerCase()];
const plainIn = (text: string) => CANARIES.filter((canary) => text.toLowerCase().includes(canary));

beforeAll(() => redis.connect());
afterAll(() => redis.quit());

/** Every record of a topic between two sets of high watermarks, key and value as text (bytes as latin1). */
async function rawRecords(topic: string, from: PartitionOffsets, to: PartitionOffsets): Promise<string[]> {
  const remaining = new Map([...to].filter(([p, high]) => high > (from.get(p) ?? 0n)));
  const texts: string[] = [];
  if (remaining.size === 0) return texts;
  const consumer = kafka.consumer({ groupId: `canary-${run}-${topic}`, maxWaitTimeInMs: 250 });
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const high = remaining.get(batch.partition);
        if (high === undefined) return;
        for (const message of batch.messages) {
          const offset = BigInt(message.offset);
          if (offset < (from.get(batch.partition) ?? 0n) || offset >= high) continue;
          texts.push(`${message.key?.toString('latin1') ?? ''} ${message.value?.toString('latin1') ?? ''}`);
          if (offset === high - 1n) remaining.delete(batch.partition);
        }
        if (remaining.size === 0) finish();
      },
    });
    await Promise.race([finished, new Promise((_, reject) => setTimeout(() => reject(new Error(`${topic}: records not all read in 60 s`)), 60_000))]);
  } finally {
    await consumer.disconnect();
  }
  return texts;
}

describe('personal data through the engine (needs Kafka, Redis, ClickHouse)', () => {
  it('a canary phone, email and OpenID sent in every place are nowhere in plain text: not in any topic, key, Redis key or value, ClickHouse table or log line', async () => {
    const prefix = `canary${run}:`;
    const topicNames = Object.values(PROCESSOR_TEST_TOPICS);
    const marks = new Map(await Promise.all(topicNames.map(async (t) => [t, await highWatermarks(kafka, t)] as const)));
    // Every service logs everything it would (debug) into one text, searched too.
    const logged: string[] = [];
    const log = { write: (line: string) => void logged.push(line) };
    const historyPath = mkdtempSync(join(tmpdir(), 'segstream-canary-chdb-'));
    const history = await startHistory(services.kafkaBrokers, { CLICKHOUSE_PATH: historyPath, LOG_LEVEL: 'debug' }, log);
    const processor = await startProcessor(
      services.kafkaBrokers,
      services.redisUrl,
      {
        REDIS_KEY_PREFIX: prefix,
        PROCESSOR_GROUP_ID: `canary-${run}`,
        PROCESSOR_NEW_GROUP_STARTS_AT: 'latest',
        PROCESSOR_HISTORY_URL: history.url,
        PROCESSOR_HISTORY_TOKEN: HISTORY_TOKEN,
        LOG_LEVEL: 'debug',
      },
      log,
    );
    const ingest = await startIngest(services.kafkaBrokers, { KAFKA_TOPIC_EVENTS: PROCESSOR_TEST_TOPICS.events, LOG_LEVEL: 'debug' }, log);
    try {
      await until('the processor has its partitions', async () => ((await fetch(`${processor.url}/readyz`)).status === 200 ? true : undefined));
      await until('the history service joined its group', async () => ((await fetch(`${history.url}/readyz`)).ok ? true : undefined));
      const anonymousId = `canary-anon-${run}`;
      const url = `https://shop.example.cn/account?email=${encodeURIComponent(EMAIL)}&mobile=${PHONE}&openid=${OPENID}`;
      const context = { page: { url, referrer: `https://shop.example.cn/login?user=${EMAIL}` }, traits: { email: EMAIL, phone: PHONE } };
      const batch = [
        {
          type: 'identify',
          anonymousId,
          context,
          traits: { Email: EMAIL, mobile: PHONE, phone_number: PHONE, wechatOpenId: OPENID, address: { phone: PHONE } },
        },
        { type: 'identify', userId: EMAIL, anonymousId, traits: { phone: PHONE, email: EMAIL, wechat_openid: OPENID } },
        { type: 'alias', userId: EMAIL, previousId: PHONE },
        {
          type: 'track',
          userId: EMAIL,
          event: 'Order Completed',
          context,
          properties: {
            order_id: `canary-order-${run}`,
            total: 88,
            currency: 'CNY',
            receiver: { name: 'Canary', tel: PHONE, contact_email: `${EMAIL}` },
            note: `call ${PHONE}`,
          },
        },
        { type: 'page', userId: EMAIL, name: 'Account', properties: { url } },
        // Older than the processors keep: dead-lettered, with the whole event in the dead letter.
        { type: 'track', userId: EMAIL, event: 'Old Visit', timestamp: new Date(Date.now() - 800 * 86_400_000).toISOString(), properties: { mobile: PHONE } },
      ];
      const sent = await fetch(`${ingest.url}/v1/batch`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from('wk_web:').toString('base64')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ batch, sentAt: new Date().toISOString() }),
      });
      expect(sent.status).toBe(200);

      // Matching still works by the values, hashed as a lookup hashes them: one person.
      const byEmail = await until('the canary member is applied', () => lookupMember(processor.url, 'email', EMAIL));
      expect(await lookupMember(processor.url, 'user', EMAIL)).toEqual(byEmail);
      expect(await lookupMember(processor.url, 'phone', PHONE)).toEqual(byEmail);
      expect(await lookupMember(processor.url, 'wechat_openid', OPENID)).toEqual(byEmail);
      expect(await lookupMember(processor.url, 'anon', anonymousId)).toEqual(byEmail);
      await until('the history service has the order and the page', async () => {
        const response = await fetch(`${processor.url}/members/lookup?kind=user&value=${encodeURIComponent(EMAIL)}&events=20`, {
          headers: { authorization: `Bearer ${PROCESSOR_TOKEN}` },
        });
        const body = (await response.json()) as { latestEvents: unknown[] | null };
        return (body.latestEvents?.length ?? 0) >= 5 ? true : undefined;
      });
      await until('the old event is dead-lettered', async () =>
        (await highWatermarks(kafka, PROCESSOR_TEST_TOPICS.deadLetters)).size > 0 &&
        [...(await highWatermarks(kafka, PROCESSOR_TEST_TOPICS.deadLetters))].some(
          ([p, high]) => high > (marks.get(PROCESSOR_TEST_TOPICS.deadLetters)?.get(p) ?? 0n),
        )
          ? true
          : undefined,
      );

      // Kafka: every topic's records of this run, keys and values.
      const found: string[] = [];
      let records = 0;
      // In their place, the keyed hashes a lookup by the value computes.
      const phoneHash = keyedHash(TEST_HMAC_SECRET)('phone', PHONE);
      let phoneHashes = 0;
      for (const topic of topicNames) {
        const texts = await rawRecords(topic, marks.get(topic) as PartitionOffsets, await highWatermarks(kafka, topic));
        records += texts.length;
        for (const text of texts) {
          for (const canary of plainIn(text)) found.push(`kafka ${topic}: ${canary}`);
          if (topic === PROCESSOR_TEST_TOPICS.events && text.includes(phoneHash)) phoneHashes++;
        }
      }
      expect(records).toBeGreaterThanOrEqual(batch.length * 2);
      expect(phoneHashes).toBeGreaterThanOrEqual(3);

      // Redis: every key of the run, its name and its value.
      let keys = 0;
      let cursor = '0';
      do {
        const [next, page] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        cursor = next;
        for (const key of page) {
          keys++;
          const type = await redis.type(key);
          const value =
            type === 'string'
              ? await redis.get(key)
              : type === 'hash'
                ? JSON.stringify(await redis.hgetall(key))
                : type === 'list'
                  ? JSON.stringify(await redis.lrange(key, 0, -1))
                  : type === 'set'
                    ? JSON.stringify(await redis.smembers(key))
                    : type === 'zset'
                      ? JSON.stringify(await redis.zrange(key, '0', '-1', 'WITHSCORES'))
                      : type === 'stream'
                        ? JSON.stringify(await redis.xrange(key, '-', '+'))
                        : '';
          for (const canary of plainIn(`${key} ${value}`)) found.push(`redis ${key}: ${canary}`);
        }
      } while (cursor !== '0');
      expect(keys).toBeGreaterThan(3);

      // ClickHouse: every table of the history service's database (opened once the service is stopped).
      await history.service.lifecycle.stop();
      const warehouse = await EmbeddedWarehouse.open(historyPath, 'segstream');
      let rows = 0;
      try {
        const tables = await warehouse.query<{ name: string }>("SELECT name FROM system.tables WHERE database = currentDatabase() AND engine NOT LIKE '%View'");
        expect(tables.length).toBeGreaterThan(3);
        for (const { name } of tables) {
          const tableRows = await warehouse.query(`SELECT * FROM ${name}`);
          rows += tableRows.length;
          for (const row of tableRows) for (const canary of plainIn(JSON.stringify(row))) found.push(`clickhouse ${name}: ${canary}`);
        }
      } finally {
        await warehouse.close();
      }
      expect(rows).toBeGreaterThanOrEqual(batch.length);

      const logLines = logged
        .join('')
        .split('\n')
        .filter((line) => line !== '');
      expect(logLines.length).toBeGreaterThan(5);
      for (const line of logLines) for (const canary of plainIn(line)) found.push(`log: ${canary} in ${line.slice(0, 200)}`);
      console.log(
        `[canary] ${records} Kafka records, ${keys} Redis keys, ${rows} ClickHouse rows, ${logLines.length} log lines searched; plain occurrences: ${found.length}`,
      );
      expect(found).toEqual([]);
    } finally {
      await ingest.stop();
      await processor.service.lifecycle.stop();
      await history.service.lifecycle.stop().catch(() => {});
    }
  });
});
