import { MS_PER_DAY } from '../../lib/clock.ts';
import { DEFAULT_RFM, type RfmConfig } from '../../lib/rfm-config.ts';
import type { RfmGroup } from '../../schemas/records.ts';

export type { RfmConfig, RfmGroup };
export { DEFAULT_RFM };

export interface Rfm {
  /** Whole days since the last paid order. */
  readonly recencyDays: number;
  readonly frequency: number;
  /** Paid amount in the window, refunds subtracted. */
  readonly monetary: number;
  readonly r: number;
  readonly f: number;
  readonly m: number;
  readonly group: RfmGroup;
}

function scoreAtLeast(value: number, thresholds: readonly number[]): number {
  return 1 + thresholds.filter((t) => value >= t).length;
}

/**
 * The classic 8 groups: high M makes a member "important"; then recent and frequent is
 * "value", recent only "develop", frequent only "keep", neither "retain".
 */
export function rfmGroup(recent: boolean, frequent: boolean, valuable: boolean): RfmGroup {
  const tier = valuable ? 'important' : 'general';
  const kind = recent ? (frequent ? 'value' : 'develop') : frequent ? 'keep' : 'retain';
  return `${tier}-${kind}`;
}

/** RFM at time `at`, or null for a member who never paid. */
export function rfmAt(lastPaidOrderAt: number | null, ordersInWindow: number, amountInWindow: number, at: number, config: RfmConfig = DEFAULT_RFM): Rfm | null {
  if (lastPaidOrderAt === null) return null;
  const recencyDays = Math.max(0, Math.floor((at - lastPaidOrderAt) / MS_PER_DAY));
  const r = 5 - config.recencyDays.filter((limit) => recencyDays > limit).length;
  return {
    recencyDays,
    frequency: ordersInWindow,
    monetary: amountInWindow,
    r,
    f: scoreAtLeast(ordersInWindow, config.frequencyOrders),
    m: scoreAtLeast(amountInWindow, config.monetaryAmount),
    group: rfmGroup(recencyDays <= config.groupCut.recencyDays, ordersInWindow >= config.groupCut.orders, amountInWindow >= config.groupCut.amount),
  };
}
