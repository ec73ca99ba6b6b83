/**
 * A steady event load in a process of its own, as ingest would send it: each event is
 * stamped received when it is handed to Kafka. Runs beside the measured processor so
 * that its own event loop does not add to the latency measured there.
 *   node benchmarks/support/live-load.ts <brokers> <events/s> <seconds>
 * Prints one JSON line: { sent, seconds }.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createTopicCodecs } from '../../lib/kafka/codecs.ts';
import { TopicProducer } from '../../lib/kafka/topic-producer.ts';
import { loadSchemaCatalog } from '../../schemas/catalog.ts';
import type { EventRecord } from '../../schemas/records.ts';
import { FileSchemaRegistry } from '../../schemas/schema-registry.ts';
import { buildTopics, DEFAULT_TOPIC_NAMES, eventsTopicKey } from '../../schemas/topics.ts';
import { toEventRecord } from '../../test/workload/event-record.ts';
import { generateWorkload } from '../../test/workload/generator.ts';

const [brokers = '', rateText = '2000', secondsText = '15'] = process.argv.slice(2);
const rate = Number(rateText);
const seconds = Number(secondsText);
const catalog = await loadSchemaCatalog();
const topics = buildTopics(DEFAULT_TOPIC_NAMES, catalog);
const codecs = await createTopicCodecs(new FileSchemaRegistry(catalog), topics);
const producer = new TopicProducer({ clientId: 'live-load', brokers: brokers.split(',') }, codecs);
await producer.connect();

const events = generateWorkload({ seed: 6, members: 50_000, days: 2, start: Date.now() - 2 * 86_400_000 });
const tickMs = 10;
const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
const sends: Promise<unknown>[] = [];
let sent = 0;
const started = performance.now();
while (performance.now() - started < seconds * 1000) {
  const now = Date.now();
  const records: { key: string; value: EventRecord }[] = [];
  for (let i = 0; i < perTick; i++) {
    const next = events.next();
    if (next.done) throw new Error('the live workload ran out of events; give it more members or days');
    // Event time one second before receipt, as from a live client.
    records.push({ key: eventsTopicKey(next.value.message), value: { ...toEventRecord(next.value.message, now), timestamp: now - 1_000 } });
  }
  sends.push(producer.send(topics.events, records));
  sent += records.length;
  await sleep(Math.max(0, started + (sent / perTick) * tickMs - performance.now()));
}
await Promise.all(sends);
await producer.disconnect();
console.log(JSON.stringify({ sent, seconds: (performance.now() - started) / 1000 }));
