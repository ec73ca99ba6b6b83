import { Kafka, logLevel } from 'kafkajs';

/** How topics the stack creates are laid out. */
export interface TopicLayout {
  readonly partitions: number;
  /** Replicas per partition; -1 takes the cluster's default.replication.factor (a user's own Kafka). */
  readonly replicationFactor: number;
}

/** Creates the topics that do not exist yet through the admin API; existing topics are left as they are. */
export async function ensureTopics(brokers: readonly string[], topics: readonly string[], layout: TopicLayout): Promise<void> {
  const admin = new Kafka({ clientId: 'segstream-stack', brokers: [...brokers], logLevel: logLevel.ERROR }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({ topic, numPartitions: layout.partitions, replicationFactor: layout.replicationFactor })),
      });
    }
  } finally {
    await admin.disconnect();
  }
}
