import { Kafka, logLevel } from 'kafkajs';

/**
 * Creates missing topics on a real Kafka cluster (the mock broker pre-creates its own;
 * it does not implement CreateTopics).
 */
export async function ensureTopics(brokers: readonly string[], topics: readonly string[], partitions: number): Promise<void> {
  const admin = new Kafka({ clientId: 'segstream-stack', brokers: [...brokers], logLevel: logLevel.ERROR }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await admin.createTopics({ waitForLeaders: true, topics: missing.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: -1 })) });
    }
  } finally {
    await admin.disconnect();
  }
}
