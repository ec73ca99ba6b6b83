import { setTimeout as sleep } from 'node:timers/promises';
import { type Admin, Kafka, logLevel } from 'kafkajs';

/** How topics the stack creates are laid out. */
export interface TopicLayout {
  readonly partitions: number;
  /** Replicas per partition; -1 takes the cluster's default.replication.factor (a user's own Kafka). */
  readonly replicationFactor: number;
}

const LEADERS_TIMEOUT_MS = 30_000;

/**
 * Waits until every partition of the topics has a leader that answers for it. A broker
 * learns of a new topic from the controller a moment after CreateTopics answers and says
 * "unknown topic" until then, which kafkajs's own waitForLeaders does not retry; and a
 * leader in the metadata may still answer "not the leader" to ListOffsets for a moment.
 */
async function waitForLeaders(admin: Admin, topics: readonly string[]): Promise<void> {
  const deadline = Date.now() + LEADERS_TIMEOUT_MS;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [...topics] });
      if (metadata.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) {
        for (const topic of topics) await admin.fetchTopicOffsets(topic);
        return;
      }
    } catch (error) {
      lastError = error;
    }
    await sleep(50);
  }
  throw new Error(`topics ${topics.join(', ')} had no leaders within ${LEADERS_TIMEOUT_MS} ms${lastError ? `: ${String(lastError)}` : ''}`);
}

/** Creates the topics that do not exist yet through the admin API, and waits for their leaders; existing topics are left as they are. */
export async function ensureTopics(brokers: readonly string[], topics: readonly string[], layout: TopicLayout): Promise<void> {
  const admin = new Kafka({ clientId: 'segstream-stack', brokers: [...brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: false,
        topics: missing.map((topic) => ({ topic, numPartitions: layout.partitions, replicationFactor: layout.replicationFactor })),
      });
      await waitForLeaders(admin, missing);
    }
  } finally {
    await admin.disconnect();
  }
}
