/**
 * The partition Kafka's default partitioner (the Java client's, which kafkajs's
 * DefaultPartitioner and librdkafka's murmur2_random follow) gives a record key:
 * murmur2 of the key's UTF-8 bytes, made positive, modulo the partition count.
 * segstream's producers use that partitioner, so this says where a key's records are.
 */
export function partitionOfKey(key: string, partitions: number): number {
  return keyHash(Buffer.from(key, 'utf8')) % partitions;
}

/** murmur2 of a key's bytes with the sign bit masked: what the partition is this modulo the partition count. */
export function keyHash(key: Uint8Array): number {
  return murmur2(key) & 0x7fffffff;
}

const M = 0x5bd1e995;

export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = (data[i] as number) | ((data[i + 1] as number) << 8) | ((data[i + 2] as number) << 16) | ((data[i + 3] as number) << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const left = length & 3;
  if (left === 3) h ^= (data[whole + 2] as number) << 16;
  if (left >= 2) h ^= (data[whole + 1] as number) << 8;
  if (left >= 1) h = Math.imul(h ^ (data[whole] as number), M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}
