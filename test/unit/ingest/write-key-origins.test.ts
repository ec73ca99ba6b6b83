import { describe, expect, it } from 'vitest';
import { WriteKeyOrigins } from '../../../ingest/write-key-origins.ts';

describe('WriteKeyOrigins', () => {
  it('allows a listed key only from its origins, any case; keys not listed and requests without an Origin are not checked', () => {
    const origins = WriteKeyOrigins.parse('wk_web=https://shop.example|http://localhost:3000, wk_mp=https://mp.example') as WriteKeyOrigins;
    expect(origins.allows('wk_web', 'https://shop.example')).toBe(true);
    expect(origins.allows('wk_web', 'HTTPS://SHOP.EXAMPLE')).toBe(true);
    expect(origins.allows('wk_web', 'http://localhost:3000')).toBe(true);
    expect(origins.allows('wk_web', 'https://evil.example')).toBe(false);
    expect(origins.allows('wk_web', 'https://shop.example.evil.example')).toBe(false);
    expect(origins.allows('wk_web', undefined)).toBe(true);
    expect(origins.allows('wk_other', 'https://evil.example')).toBe(true);
  });

  it('refuses what is not key=origin|origin with http(s) origins without a path', () => {
    for (const text of ['wk_web', '=https://a.example', 'wk_web=shop.example', 'wk_web=https://shop.example/', 'wk_web=https://a.example|ftp://b.example'])
      expect(WriteKeyOrigins.parse(text), text).toBeUndefined();
  });
});
