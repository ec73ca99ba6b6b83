import { describe, expect, it } from 'vitest';
import { parseTrackingRequest } from '../../../ingest/request.ts';
import { correctTimestamp } from '../../../ingest/timestamps.ts';
import { WriteKeys, writeKeyFrom } from '../../../ingest/write-keys.ts';

const tolerances = { skewToleranceMs: 30_000, futureToleranceMs: 300_000 };
const limits = { maxEventBytes: 32_768, maxBatchEvents: 3, timeTolerances: tolerances };
const receivedAt = Date.parse('2026-03-01T12:00:00.000Z');

describe('correctTimestamp', () => {
  it('shifts the client time by the client clock skew (receivedAt - sentAt), as Segment does', () => {
    // Client clock 1 hour behind: event 10 s before sending.
    const original = Date.parse('2026-03-01T10:59:50.000Z');
    const sentAt = Date.parse('2026-03-01T11:00:00.000Z');
    expect(correctTimestamp({ original, sentAt, receivedAt }, tolerances)).toEqual({
      timestamp: Date.parse('2026-03-01T11:59:50.000Z'),
      flags: ['clock_skew_corrected'],
    });
  });

  it('leaves the client time alone when the skew is within the tolerance (network delay), so a retry keeps its event time', () => {
    const original = receivedAt - 5_000;
    expect(correctTimestamp({ original, sentAt: receivedAt - 200, receivedAt }, tolerances)).toEqual({ timestamp: original, flags: [] });
    // The same message retried 10 minutes later, with a new sentAt.
    const retried = receivedAt + 600_000;
    expect(correctTimestamp({ original, sentAt: retried - 3_000, receivedAt: retried }, tolerances)).toEqual({ timestamp: original, flags: [] });
    expect(correctTimestamp({ original, sentAt: receivedAt - 30_001, receivedAt }, tolerances)).toEqual({
      timestamp: original + 30_001,
      flags: ['clock_skew_corrected'],
    });
  });

  it('uses the client time as is without sentAt, and receivedAt without either', () => {
    expect(correctTimestamp({ original: receivedAt - 1_000, sentAt: null, receivedAt }, tolerances)).toEqual({ timestamp: receivedAt - 1_000, flags: [] });
    expect(correctTimestamp({ original: null, sentAt: null, receivedAt }, tolerances)).toEqual({ timestamp: receivedAt, flags: [] });
  });

  it('resets a timestamp too far in the future to receivedAt and flags it', () => {
    expect(correctTimestamp({ original: receivedAt + 86_400_000, sentAt: null, receivedAt }, tolerances)).toEqual({
      timestamp: receivedAt,
      flags: ['timestamp_in_future'],
    });
    expect(correctTimestamp({ original: receivedAt + 200_000, sentAt: null, receivedAt }, tolerances).flags).toEqual([]);
  });
});

describe('parseTrackingRequest', () => {
  it('keeps the valid messages of a batch and reports the invalid ones by index', () => {
    const body = {
      batch: [
        { type: 'track', userId: 'u1', event: 'A' },
        { type: 'track', event: 'B' },
        { type: 'page', anonymousId: 'a1' },
      ],
    };
    const parsed = parseTrackingRequest(body, 'batch', 'web', receivedAt, limits);
    if (!parsed.ok) throw new Error(parsed.error.message);
    expect(parsed.value.records.map((r) => [r.key, r.value.type, r.value.event, r.value.source])).toEqual([
      ['u1', 'track', 'A', 'web'],
      ['a1', 'page', null, 'web'],
    ]);
    expect(parsed.value.problems.map((p) => [p.index, p.field])).toEqual([[1, 'batch[1].userId']]);
  });

  it("applies batch-level sentAt, context and integrations, the message's own values winning", () => {
    const body = {
      sentAt: '2026-03-01T11:00:00.000Z',
      context: { library: { name: 'analytics-node' }, locale: 'en' },
      integrations: { All: true },
      batch: [{ type: 'track', userId: 'u1', event: 'A', timestamp: '2026-03-01T10:59:00.000Z', context: { locale: 'zh-CN' } }],
    };
    const parsed = parseTrackingRequest(body, 'batch', 'web', receivedAt, limits);
    if (!parsed.ok) throw new Error(parsed.error.message);
    const record = parsed.value.records[0]?.value;
    expect(record?.timestamp).toBe(Date.parse('2026-03-01T11:59:00.000Z'));
    expect(record?.flags).toEqual(['clock_skew_corrected']);
    expect(JSON.parse(record?.context ?? '{}')).toEqual({ library: { name: 'analytics-node' }, locale: 'zh-CN' });
    expect(JSON.parse(record?.integrations ?? '{}')).toEqual({ All: true });
  });

  it('derives the same messageId for the same message sent twice without one', () => {
    const body = { type: 'track', userId: 'u1', event: 'A', properties: { x: 1 } };
    const first = parseTrackingRequest(body, 'track', 'web', receivedAt, limits);
    const retry = parseTrackingRequest({ ...body }, 'track', 'web', receivedAt + 5_000, limits);
    const other = parseTrackingRequest({ ...body, properties: { x: 2 } }, 'track', 'web', receivedAt, limits);
    const idOf = (r: typeof first) => (r.ok ? r.value.records[0]?.value.messageId : undefined);
    expect(idOf(first)).toMatch(/^srv-[0-9a-f]{32}$/);
    expect(idOf(retry)).toBe(idOf(first));
    expect(idOf(other)).not.toBe(idOf(first));
    const clientId = parseTrackingRequest({ ...body, messageId: 'm-1' }, 'track', 'web', receivedAt, limits);
    expect(idOf(clientId)).toBe('m-1');
  });

  it('rejects the whole request for a bad batch shape or too many messages', () => {
    const rejection = (body: unknown) => {
      const parsed = parseTrackingRequest(body, 'batch', 'web', receivedAt, limits);
      return parsed.ok ? undefined : { status: parsed.error.status, error: parsed.error.error, field: parsed.error.problems[0]?.field };
    };
    expect(rejection({ events: [] })).toEqual({ status: 400, error: 'invalid_body', field: 'batch' });
    expect(rejection({ batch: [] })).toEqual({ status: 400, error: 'invalid_body', field: 'batch' });
    expect(rejection({ batch: [{}, {}, {}, {}] })).toEqual({ status: 413, error: 'batch_too_large', field: 'batch' });
    expect(rejection({ batch: [{}], sentAt: 'yesterday' })).toEqual({ status: 400, error: 'invalid_body', field: 'sentAt' });
    expect(rejection([1, 2])).toEqual({ status: 400, error: 'invalid_body', field: 'body' });
  });

  it('answers 413 for a single event over the size limit', () => {
    const parsed = parseTrackingRequest({ userId: 'u', event: 'e', properties: { blob: 'x'.repeat(40_000) } }, 'track', 'web', receivedAt, limits);
    expect(parsed.ok ? null : parsed.error.status).toBe(413);
  });
});

describe('write keys', () => {
  it('reads the key from HTTP Basic (user name) or the body', () => {
    const basic = `Basic ${Buffer.from('wk_web:').toString('base64')}`;
    expect(writeKeyFrom(basic, {})).toBe('wk_web');
    expect(writeKeyFrom(`Basic ${Buffer.from('wk_nocolon').toString('base64')}`, {})).toBe('wk_nocolon');
    expect(writeKeyFrom(undefined, { writeKey: 'wk_body' })).toBe('wk_body');
    expect(writeKeyFrom('Bearer x', {})).toBeUndefined();
    expect(writeKeyFrom(undefined, { writeKey: '' })).toBeUndefined();
  });

  it('binds each key to a source and refuses malformed lists', () => {
    const keys = WriteKeys.parse('wk_web=web, wk_ios=ios') as WriteKeys;
    expect(keys.sourceOf('wk_web')).toBe('web');
    expect(keys.sourceOf('wk_ios')).toBe('ios');
    expect(keys.sourceOf('wk_other')).toBeUndefined();
    expect(WriteKeys.parse('wk_web')).toBeUndefined();
    expect(WriteKeys.parse('=web')).toBeUndefined();
    expect(WriteKeys.parse('k=bad source')).toBeUndefined();
  });
});
