/**
 * The amount of an order or refund event: `total` when it is a number, else `revenue`
 * (Segment's e-commerce spec allows either), else 0. Spend, RFM, the orders and refunds
 * counters and the history rows all use this one rule.
 */
export function orderAmount(properties: Record<string, unknown>): number {
  const { total, revenue } = properties;
  return typeof total === 'number' ? total : typeof revenue === 'number' ? revenue : 0;
}
