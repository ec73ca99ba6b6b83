import { Readable } from 'node:stream';
import avsc from 'avsc';
import { describe, expect, it } from 'vitest';
import { avroLong, avroObjectContainer, avroString } from '../../../lib/warehouse/avro-container.ts';

const LONG = avsc.Type.forSchema('long');

describe('Avro container encoding', () => {
  it('encodes longs as avsc does, including negatives and values beyond 32 bits', () => {
    for (const n of [0, 1, -1, 63, 64, -64, -65, 127, 128, 300, 2 ** 31, -(2 ** 31) - 1, 2 ** 40 + 7, 2 ** 50 + 3, -(2 ** 50)]) {
      expect(avroLong(n)).toEqual(LONG.toBuffer(n));
    }
    expect(() => avroLong(1.5)).toThrow(/safe integer, received 1.5/);
  });

  it('encodes strings as their UTF-8 length and bytes', () => {
    expect(avroString('m-中文😀')).toEqual(avsc.Type.forSchema('string').toBuffer('m-中文😀'));
    expect(avroString('')).toEqual(Buffer.from([0]));
  });

  it('frames records already in Avro binary into a file any Avro reader reads back', async () => {
    const schema = {
      type: 'record',
      name: 'Row',
      fields: [
        { name: 'id', type: 'string' },
        { name: 'n', type: 'long' },
        { name: 'tag', type: ['null', 'string'] },
      ],
    };
    const type = avsc.Type.forSchema(schema as avsc.Schema);
    const rows = [
      { id: 'a', n: 1, tag: null },
      { id: 'tab\tand\nnewline', n: -(2 ** 40), tag: 'x' },
      ...Array.from({ length: 300 }, (_, i) => ({ id: `r${i}`, n: i * 1_000_003, tag: i % 2 ? null : `t${i}` })),
    ];
    // Each record in two parts, as a writer appending a field to records it holds would give them.
    const parts = rows.flatMap((r) => {
      const bytes = type.toBuffer(r);
      return [bytes.subarray(0, 1), bytes.subarray(1)];
    });
    const file = avroObjectContainer(schema, { count: rows.length, parts }, Buffer.alloc(16, 7));
    const decoded: unknown[] = [];
    await new Promise<void>((resolve, reject) => {
      Readable.from([file])
        .pipe(new avsc.streams.BlockDecoder())
        .on('data', (row: unknown) => decoded.push(row))
        .on('end', resolve)
        .on('error', reject);
    });
    expect(decoded.map((r) => ({ ...(r as object) }))).toEqual(rows);
    expect(() => avroObjectContainer(schema, { count: 0, parts: [] }, Buffer.alloc(8))).toThrow(/16 bytes, received 8/);
  });
});
