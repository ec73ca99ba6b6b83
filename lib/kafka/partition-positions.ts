import type { Admin } from 'kafkajs';

/** Where each partition of a topic starts and ends now, and where a group's committed offsets are (absent: none). */
export interface PartitionPositions {
  ends(): Promise<Map<number, { readonly low: bigint; readonly high: bigint }>>;
  committed(): Promise<Map<number, bigint>>;
}

/** PartitionPositions read with a connected kafkajs admin client. */
export function adminPartitionPositions(admin: Admin, topic: string, groupId: string): PartitionPositions {
  return {
    ends: async () => new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, { low: BigInt(p.low), high: BigInt(p.high) }])),
    committed: async () => {
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
      return new Map((offsets?.partitions ?? []).filter((p) => Number(p.offset) >= 0).map((p) => [p.partition, BigInt(p.offset)]));
    },
  };
}
