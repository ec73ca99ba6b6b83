import { describe, expect, it } from 'vitest';
import { encodeCommands, RedisReplyError, RespReader } from '../../../lib/redis/resp.ts';

describe('encodeCommands', () => {
  it('writes each command as an array of bulk strings, byte lengths counted in UTF-8', () => {
    const encoded = encodeCommands([
      ['SET', 'k', 'héllo 你好'],
      ['ZADD', 'z', 'LT', 17.5, Buffer.from([0, 255])],
    ]);
    const expected = Buffer.concat([
      Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$13\r\nhéllo 你好\r\n'),
      Buffer.from('*5\r\n$4\r\nZADD\r\n$1\r\nz\r\n$2\r\nLT\r\n$4\r\n17.5\r\n$2\r\n'),
      Buffer.from([0, 255, 13, 10]),
    ]);
    expect(encoded.equals(expected)).toBe(true);
  });

  it('writes numbers as Redis reads them: integers of any size and sign, and fractions', () => {
    const values = [0, 7, 10, 99, 100, -1, -10, 1_790_754_413_402, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 17.5, -0.25, 1e21];
    const expected = values.map((v) => `$${String(v).length}\r\n${String(v)}\r\n`).join('');
    expect(encodeCommands([values]).toString()).toBe(`*${values.length}\r\n${expected}`);
  });

  it('writes empty strings and empty command lists', () => {
    expect(encodeCommands([['GET', '']]).toString()).toBe('*2\r\n$3\r\nGET\r\n$0\r\n\r\n');
    expect(encodeCommands([]).length).toBe(0);
  });
});

describe('RespReader', () => {
  const wire =
    '+OK\r\n' +
    '-NOSCRIPT No matching script\r\n' +
    ':42\r\n' +
    '$-1\r\n' +
    '$0\r\n\r\n' +
    '$8\r\nhé\r\n你\r\n' + // a bulk string holding CRLF and multi-byte characters
    '*3\r\n$1\r\na\r\n$-1\r\n*2\r\n:1\r\n$1\r\nb\r\n' +
    '*-1\r\n' +
    '*0\r\n';
  const expected = ['OK', new RedisReplyError('NOSCRIPT No matching script'), 42, null, '', 'hé\r\n你', ['a', null, [1, 'b']], null, []];

  it('reads every kind of reply', () => {
    const replies = new RespReader().feed(Buffer.from(wire));
    expect(replies).toEqual(expected);
    expect(replies[1]).toBeInstanceOf(RedisReplyError);
  });

  it('reads the same replies whatever the chunks, split at every byte', () => {
    const bytes = Buffer.from(wire);
    for (let cut = 1; cut < bytes.length; cut++) {
      const reader = new RespReader();
      const replies = [...reader.feed(bytes.subarray(0, cut)), ...reader.feed(bytes.subarray(cut))];
      expect(replies).toEqual(expected);
    }
    const reader = new RespReader();
    const oneByOne = [...bytes].flatMap((byte) => reader.feed(Buffer.from([byte])));
    expect(oneByOne).toEqual(expected);
  });

  it('reads a large reply arriving in many chunks', () => {
    const value = 'x'.repeat(200_000);
    const bytes = Buffer.from(`$${value.length}\r\n${value}\r\n:7\r\n`);
    const reader = new RespReader();
    const replies = [];
    for (let at = 0; at < bytes.length; at += 65_536) replies.push(...reader.feed(bytes.subarray(at, at + 65_536)));
    expect(replies).toEqual([value, 7]);
  });

  it('refuses bytes that are not Redis replies', () => {
    expect(() => new RespReader().feed(Buffer.from('hello\r\n'))).toThrow(/not a Redis reply/);
  });
});
