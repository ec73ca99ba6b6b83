import { describe, expect, it } from 'vitest';
import { encodeWire, parseWire } from '../../../schemas/wire-format.ts';

describe('Confluent wire format', () => {
  it('writes magic byte 0, the schema id big-endian, then the body', () => {
    const wire = encodeWire(258, Buffer.from([9, 8, 7]));
    expect([...wire]).toEqual([0, 0, 0, 1, 2, 9, 8, 7]);
    const parsed = parseWire(wire);
    expect(parsed.ok && parsed.value.schemaId).toBe(258);
    expect(parsed.ok && [...parsed.value.body]).toEqual([9, 8, 7]);
  });

  it('rejects what is not in the wire format, saying why', () => {
    expect(parseWire(Buffer.from('{"json":true}'))).toEqual({ ok: false, error: 'expected magic byte 0 (Confluent wire format), received 123' });
    expect(parseWire(Buffer.from([0, 0, 1]))).toEqual({ ok: false, error: 'record is 3 bytes, shorter than the 5-byte Confluent header' });
    expect(parseWire(null)).toEqual({ ok: false, error: 'record has no value (tombstone)' });
    expect(() => encodeWire(-1, Buffer.alloc(0))).toThrow(/non-negative 32-bit/);
  });
});
