/** Which timer shard a member's due checks live in: one per events partition, swept by the partition's owner. */
export function timerShardOf(memberId: string, shards: number): number {
  let h = 0;
  for (let i = 0; i < memberId.length; i++) h = (Math.imul(h, 31) + memberId.charCodeAt(i)) | 0;
  return Math.abs(h) % shards;
}
