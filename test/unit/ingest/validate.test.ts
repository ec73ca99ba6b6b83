import { describe, expect, it } from 'vitest';
import { validateMessage } from '../../../ingest/validate.ts';

const limits = { maxEventBytes: 32_768 };
const problemsOf = (raw: unknown, route: Parameters<typeof validateMessage>[1] = null, index: number | null = 0) => {
  const result = validateMessage(raw, route, index, limits);
  return result.ok ? [] : result.error;
};

describe('validateMessage', () => {
  it('accepts each message type with its required fields', () => {
    for (const message of [
      { type: 'track', userId: 'u1', event: 'Signed Up' },
      { type: 'identify', anonymousId: 'a1', traits: { plan: 'gold' } },
      { type: 'page', anonymousId: 'a1', name: 'Home' },
      { type: 'screen', userId: 42 },
      { type: 'group', userId: 'u1', groupId: 'acct_1' },
      { type: 'alias', previousId: 'a1', userId: 'u1' },
    ]) {
      expect(problemsOf(message), message.type).toEqual([]);
    }
    const numeric = validateMessage({ type: 'screen', userId: 42 }, null, 0, limits);
    expect(numeric.ok && numeric.value.userId).toBe('42');
  });

  it('names the missing field per type, with the batch index', () => {
    expect(problemsOf({ type: 'track', event: 'x' }, null, 3)).toEqual([
      {
        index: 3,
        field: 'batch[3].userId',
        reason: 'missing_field',
        expected: 'userId or anonymousId (every message needs one of them)',
        received: 'nothing (field missing)',
      },
    ]);
    expect(problemsOf({ type: 'track', userId: 'u' }).map((p) => p.field)).toEqual(['batch[0].event']);
    expect(problemsOf({ type: 'group', userId: 'u' }).map((p) => p.field)).toEqual(['batch[0].groupId']);
    expect(problemsOf({ type: 'alias', anonymousId: 'a' }).map((p) => p.field)).toEqual(['batch[0].previousId', 'batch[0].userId']);
    expect(problemsOf({ userId: 'u' }).map((p) => [p.field, p.reason])).toEqual([['batch[0].type', 'missing_field']]);
    expect(problemsOf({ type: 'purchase', userId: 'u' })[0]).toMatchObject({
      field: 'batch[0].type',
      expected: 'one of track, identify, page, screen, group, alias',
      received: '"purchase" (a string)',
    });
  });

  it('takes the type from the endpoint for single messages, and drops the batch prefix', () => {
    expect(problemsOf({ userId: 'u' }, 'track', null)).toEqual([
      {
        index: null,
        field: 'event',
        reason: 'missing_field',
        expected: 'event: the name of the action (track needs event)',
        received: 'nothing (field missing)',
      },
    ]);
  });

  it('rejects wrong types of identifiers, names and objects', () => {
    const problems = problemsOf({ type: 'track', userId: { id: 1 }, anonymousId: '', event: 7, properties: [1, 2], context: 'ctx' });
    expect(problems.map((p) => [p.field, p.received])).toEqual([
      ['batch[0].userId', '{"id":1} (an object)'],
      ['batch[0].anonymousId', '"" (a string)'],
      ['batch[0].event', '7 (a number)'],
      ['batch[0].context', '"ctx" (a string)'],
      ['batch[0].properties', '[1,2] (an array)'],
    ]);
  });

  it('requires ISO-8601 timestamps with a zone', () => {
    expect(problemsOf({ type: 'page', userId: 'u', timestamp: '2026-01-05T10:00:00.000Z' })).toEqual([]);
    expect(problemsOf({ type: 'page', userId: 'u', timestamp: '2026-01-05T10:00:00+08:00' })).toEqual([]);
    for (const bad of ['2026-01-05', '05/01/2026 10:00', 1767607200000, '2026-13-45T99:00:00Z']) {
      expect(problemsOf({ type: 'page', userId: 'u', timestamp: bad })[0], String(bad)).toMatchObject({
        field: 'batch[0].timestamp',
        reason: 'invalid_timestamp',
      });
    }
  });

  it('rejects an event larger than the limit, saying its size', () => {
    const big = { type: 'track', userId: 'u', event: 'x', properties: { blob: 'a'.repeat(40_000) } };
    expect(problemsOf(big)).toEqual([
      { index: 0, field: 'batch[0]', reason: 'event_too_large', expected: 'at most 32768 bytes per event', received: '40066 bytes' },
    ]);
  });

  it('checks order money by the Segment e-commerce spec', () => {
    const order = (properties: Record<string, unknown>, event = 'Order Completed') => problemsOf({ type: 'track', userId: 'u', event, properties });
    expect(order({ order_id: 'o1', total: 42.5, revenue: 38, currency: 'USD', products: [{ product_id: 'p', price: 19, quantity: 2 }] })).toEqual([]);
    expect(order({ order_id: 'o1', total: 10 }, 'Order Refunded')).toEqual([]);
    expect(order({ total: 10 }).map((p) => [p.field, p.reason])).toEqual([['batch[0].properties.order_id', 'missing_field']]);
    expect(order({ order_id: 'o1' }).map((p) => p.field)).toEqual(['batch[0].properties.total']);
    expect(order({ order_id: 'o1', total: '12.50' })[0]).toMatchObject({
      field: 'batch[0].properties.total',
      reason: 'invalid_money',
      received: '"12.50" (a string)',
    });
    expect(order({ order_id: 'o1', total: -5 })[0]).toMatchObject({ reason: 'invalid_money', received: '-5 (a number)' });
    expect(order({ order_id: 'o1', revenue: 5, tax: null })[0]).toMatchObject({ field: 'batch[0].properties.tax', reason: 'invalid_money' });
    expect(order({ order_id: 'o1', total: 5, currency: 'dollars' })[0]).toMatchObject({
      field: 'batch[0].properties.currency',
      expected: 'an ISO 4217 currency code (e.g. USD, CNY)',
    });
    expect(order({ order_id: 'o1', total: 5, products: [{ price: 'free' }, { quantity: 0 }, 'p'] }).map((p) => p.field)).toEqual([
      'batch[0].properties.products[0].price',
      'batch[0].properties.products[1].quantity',
      'batch[0].properties.products[2]',
    ]);
    // Other events may carry any properties.
    expect(order({ total: 'n/a' }, 'Product Viewed')).toEqual([]);
  });

  it('bounds money to what history and member state store alike, and checks order events whatever their case and spacing', () => {
    const order = (properties: Record<string, unknown>, event = 'Order Completed') => problemsOf({ type: 'track', userId: 'u', event, properties });
    expect(order({ order_id: 'o1', total: 1e12 })).toEqual([]);
    expect(order({ order_id: 'o1', total: 1e300 })[0]).toMatchObject({
      field: 'batch[0].properties.total',
      reason: 'invalid_money',
      expected: 'a non-negative number of at most 1,000,000,000,000 (e.g. 42.5), not text',
      received: '1e+300 (a number)',
    });
    expect(order({ order_id: 'o1', total: 5, products: [{ price: 2e12 }] })[0]).toMatchObject({ field: 'batch[0].properties.products[0].price' });
    for (const event of ['order completed', 'ORDER COMPLETED', ' Order_Completed ', 'order-refunded'])
      expect(order({ order_id: 'o1', total: -50 }, event)[0], event).toMatchObject({ reason: 'invalid_money', received: '-50 (a number)' });
    expect(order({}, 'order completed').map((p) => p.expected)).toEqual([
      'the order id (a non-empty string) on "order completed"',
      'total or revenue (a non-negative number) on "order completed"',
    ]);
  });

  it('refuses explicit null identifiers and names as missing, saying null was received', () => {
    expect(problemsOf({ type: 'track', event: 'x', userId: null, anonymousId: null })).toEqual([
      {
        index: 0,
        field: 'batch[0].userId',
        reason: 'missing_field',
        expected: 'userId or anonymousId (every message needs one of them)',
        received: 'null',
      },
    ]);
    expect(problemsOf({ type: 'track', userId: 'u', event: null }).map((p) => [p.field, p.received])).toEqual([['batch[0].event', 'null']]);
    expect(problemsOf({ type: 'alias', previousId: null, userId: 'u' }).map((p) => [p.field, p.reason])).toEqual([['batch[0].previousId', 'missing_field']]);
    // One id null beside a usable other is an anonymous (or known) event, as before.
    expect(problemsOf({ type: 'track', event: 'x', userId: null, anonymousId: 'a' })).toEqual([]);
    // An invalid id is reported once, not also as missing.
    expect(problemsOf({ type: 'track', event: 'x', userId: { id: 1 } }).map((p) => [p.field, p.reason])).toEqual([['batch[0].userId', 'invalid_field']]);
  });
});
