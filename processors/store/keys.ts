/**
 * Redis key layout. Every key of one member carries the member id as a hash tag, so in
 * Redis Cluster they share one slot and one Lua script can update them atomically.
 * Identity index keys are tagged by the identity; they never take part in a member's script.
 */
export interface Keys {
  /** Hash: v (version), s (state JSON), k (1 when the member has a user id), into (merged into). */
  member(memberId: string): string;
  /** List of outputs computed but not yet confirmed published. */
  outbox(memberId: string): string;
  /** Sorted set messageId -> receivedAt, for de-duplicating client retries. */
  seen(memberId: string): string;
  /** String: the member id an identity (kind + keyed hash) belongs to. */
  identity(kind: string, hash: string): string;
  /** Sorted set memberId -> when its lifecycle is due to be checked, one per timer shard. */
  timers(shard: number): string;
  /** Hash: how far each partition of a source topic is (PartitionProgress). */
  partitions(topic: string): string;
  /** SCAN pattern matching every member hash (and nothing else of a member). */
  readonly memberPattern: string;
  /** The member id in a key matched by memberPattern. */
  memberIdOf(key: string): string;
}

export function keysWithPrefix(prefix: string): Keys {
  return {
    member: (id) => `${prefix}m:{${id}}`,
    outbox: (id) => `${prefix}m:{${id}}:outbox`,
    seen: (id) => `${prefix}m:{${id}}:seen`,
    identity: (kind, hash) => `${prefix}id:{${kind}:${hash}}`,
    timers: (shard) => `${prefix}timers:{${shard}}`,
    partitions: (topic) => `${prefix}partitions:{${topic}}`,
    memberPattern: `${prefix}m:{*}`,
    memberIdOf: (key) => key.slice(prefix.length + 3, -1),
  };
}
