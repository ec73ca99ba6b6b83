import { compatibilityPartitioner } from '@platformatic/kafka';
import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { keyHash, partitionOfKey } from '../../../lib/kafka/key-partition.ts';

describe('partitionOfKey', () => {
  it("gives every key the partition kafkajs's default (Java) partitioner gives it", () => {
    const partitioner = Partitioners.DefaultPartitioner();
    const keys = ['', 'a', 'ab', 'abc', 'abcd', 'user_1', '9f6c1a4e-3b6b-4ad4-9a54-1c0b3a1f7e21', '会员-13800138000', 'x'.repeat(101)];
    for (let i = 0; i < 500; i++)
      keys.push(
        `${i}-${Math.random()
          .toString(36)
          .slice(2, 2 + (i % 13))}`,
      );
    for (const partitions of [1, 3, 16, 32, 100])
      for (const key of keys) {
        const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0 }));
        const expected = partitioner({ topic: 't', partitionMetadata, message: { key, value: null } } as never);
        expect(partitionOfKey(key, partitions), `${key} over ${partitions}`).toBe(expected);
      }
  });

  it("hashes every key as @platformatic/kafka's compatibilityPartitioner, which the producers replaced by it", () => {
    for (const key of ['', 'a', 'ab', 'abc', 'abcd', 'm_0123456789abcdef01234567', '会员-13800138000', 'x'.repeat(101)]) {
      const bytes = Buffer.from(key, 'utf8');
      expect(keyHash(bytes), key).toBe(compatibilityPartitioner({} as never, bytes));
    }
  });
});
