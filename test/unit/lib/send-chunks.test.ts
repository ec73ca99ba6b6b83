import { describe, expect, it } from 'vitest';
import { MAX_SEND_BYTES, sendChunks } from '../../../lib/kafka/send-chunks.ts';

describe('produce requests the broker accepts', () => {
  it('splits 4,000 member events of 1 KB (a slice published at once) into requests under half a MiB, in order', () => {
    const messages = Array.from({ length: 4_000 }, (_, i) => ({ key: `m_${i % 37}`, value: Buffer.alloc(1_000, i % 256) }));
    const chunks = sendChunks(messages);
    expect(chunks.length).toBeGreaterThan(7);
    for (const chunk of chunks) expect(chunk.reduce((sum, m) => sum + m.key.length + m.value.length, 0)).toBeLessThanOrEqual(MAX_SEND_BYTES);
    expect(chunks.flat()).toEqual(messages);
  });

  it('sends a small batch as one request, and a message larger than the limit alone', () => {
    const a = { key: 'a', value: Buffer.from('x') };
    const c = { key: 'c', value: Buffer.alloc(0) };
    expect(sendChunks([a])).toHaveLength(1);
    const big = { key: 'b', value: Buffer.alloc(MAX_SEND_BYTES + 1) };
    expect(sendChunks([a, big, c])).toEqual([[a], [big], [c]]);
    expect(sendChunks([])).toEqual([]);
  });
});
