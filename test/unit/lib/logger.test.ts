import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../lib/logger.ts';

function captured() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  return { lines, logger: createLogger({ service: 'test', level: 'info', destination }) };
}

describe('logger', () => {
  it('never writes personal identifiers, even when a payload is logged by mistake', () => {
    const { lines, logger } = captured();
    logger.info(
      {
        event: { traits: { email: 'a@example.com', phone: '+8613800000000' }, properties: { email: 'b@example.com' } },
        writeKey: 'wk_secret',
        req: { headers: { authorization: 'Basic d2s6' } },
      },
      'received',
    );
    const text = lines.join('');
    for (const secret of ['a@example.com', '+8613800000000', 'b@example.com', 'wk_secret', 'Basic d2s6']) expect(text).not.toContain(secret);
    expect(JSON.parse(text)).toMatchObject({ service: 'test', msg: 'received', writeKey: '[redacted]' });
  });
});
