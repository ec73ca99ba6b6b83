import { describe, expect, it } from 'vitest';
import { ANALYSES } from '../../../lib/analytics/catalog.ts';

const check = (name: string, request: unknown): string[] => {
  const analysis = ANALYSES.find((a) => a.name === name);
  if (!analysis?.check) throw new Error(`no check for ${name}`);
  return analysis.check(request as never);
};

describe('analysis request checks (422 problems JSON Schema cannot express)', () => {
  it('takes only real calendar days, in order, over at most 3,660 days', () => {
    expect(check('trends', { fromDay: '2026-01-01', toDay: '2026-12-31', timeZone: 'UTC' })).toEqual([]);
    expect(check('trends', { fromDay: '0000-00-00', toDay: '9999-99-99', timeZone: 'UTC' })).toEqual([
      'fromDay: expected a calendar day from 1970-01-01 to 2199-12-31, received "0000-00-00"',
      'toDay: expected a calendar day from 1970-01-01 to 2199-12-31, received "9999-99-99"',
    ]);
    expect(check('segment-sizes', { fromDay: '2026-02-30', toDay: '2026-03-01', timeZone: 'UTC' })).toEqual([
      'fromDay: expected a calendar day from 1970-01-01 to 2199-12-31, received "2026-02-30"',
    ]);
    expect(check('lifecycle-sizes', { fromDay: '2026-03-02', toDay: '2026-03-01', timeZone: 'UTC' })).toEqual([
      'toDay: must not be before fromDay (2026-03-02), received 2026-03-01',
    ]);
    expect(check('trends', { fromDay: '1970-01-01', toDay: '2199-12-31', timeZone: 'UTC' })).toEqual([
      'toDay: at most 3660 days after fromDay (1970-01-01), received 2199-12-31; narrow the date range',
    ]);
  });

  it('wants a number where a funnel filter compares numbers', () => {
    const funnel = (where: unknown[]) => ({ steps: [{ event: 'Viewed', where }, { event: 'Bought' }], windowSeconds: 60, from: 0, to: 1 });
    expect(
      check(
        'funnel',
        funnel([
          { property: 'price', op: 'gt', value: 10 },
          { property: 'price', op: 'lte', value: '12.5' },
        ]),
      ),
    ).toEqual([]);
    expect(
      check(
        'funnel',
        funnel([
          { property: 'plan', op: 'eq', value: 'gold' },
          { property: 'price', op: 'gte', value: 'cheap' },
        ]),
      ),
    ).toEqual(['steps[0].where[1].value: expected a number for gte, received "cheap"']);
    expect(check('funnel', funnel([{ property: 'price', op: 'lt', value: ' ' }]))).toEqual(['steps[0].where[0].value: expected a number for lt, received " "']);
  });
});
