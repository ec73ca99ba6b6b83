/** RFM thresholds: shared by the processors (live scores) and the query service (distributions from history). */
export interface RfmConfig {
  /** F and M count paid orders over this many days. */
  readonly windowDays: number;
  /** Recency score 5..2 for at most this many days since the last paid order; beyond the last, 1. Ascending. */
  readonly recencyDays: readonly [number, number, number, number];
  /** Frequency score 2..5 from at least this many orders. Ascending. */
  readonly frequencyOrders: readonly [number, number, number, number];
  /** Monetary score 2..5 from at least this amount. Ascending. */
  readonly monetaryAmount: readonly [number, number, number, number];
  /** Cut points for the 8 groups: recent if R <= recencyDays, frequent if F >= orders, valuable if M >= amount. */
  readonly groupCut: { readonly recencyDays: number; readonly orders: number; readonly amount: number };
}

export const DEFAULT_RFM: RfmConfig = {
  windowDays: 365,
  recencyDays: [7, 30, 90, 180],
  frequencyOrders: [2, 3, 5, 8],
  monetaryAmount: [100, 300, 1_000, 3_000],
  groupCut: { recencyDays: 30, orders: 2, amount: 300 },
};
