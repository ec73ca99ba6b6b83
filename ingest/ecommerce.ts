import { describeValue, type FieldProblem } from './problems.ts';

/** Segment e-commerce events whose money fields the engine relies on (RFM, LTV, attribution). */
export const ORDER_EVENTS: ReadonlySet<string> = new Set(['Order Completed', 'Order Refunded']);

const MONEY_FIELDS = ['total', 'revenue', 'subtotal', 'shipping', 'tax', 'discount', 'value'] as const;
const CURRENCY = /^[A-Z]{3}$/;

const isMoney = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;

/**
 * Checks an order event's properties against the Segment e-commerce spec: an order_id,
 * a total or revenue, money as non-negative numbers, an ISO 4217 currency code, and
 * products with numeric price and quantity.
 */
export function orderProblems(event: string, properties: Record<string, unknown>, index: number | null, prefix: string): FieldProblem[] {
  if (!ORDER_EVENTS.has(event)) return [];
  const problems: FieldProblem[] = [];
  const at = (field: string) => `${prefix}properties.${field}`;
  const problem = (field: string, reason: FieldProblem['reason'], expected: string, value: unknown) =>
    problems.push({ index, field: at(field), reason, expected, received: describeValue(value) });

  const orderId = properties.order_id;
  if (!((typeof orderId === 'string' && orderId.trim() !== '') || (typeof orderId === 'number' && Number.isFinite(orderId)))) {
    problem('order_id', orderId === undefined ? 'missing_field' : 'invalid_field', `the order id (a non-empty string) on "${event}"`, orderId);
  }
  if (properties.total === undefined && properties.revenue === undefined) {
    problem('total', 'missing_field', `total or revenue (a non-negative number) on "${event}"`, undefined);
  }
  for (const field of MONEY_FIELDS) {
    const value = properties[field];
    if (value !== undefined && !isMoney(value)) problem(field, 'invalid_money', 'a non-negative number (e.g. 42.5), not text', value);
  }
  const currency = properties.currency;
  if (currency !== undefined && !(typeof currency === 'string' && CURRENCY.test(currency))) {
    problem('currency', 'invalid_field', 'an ISO 4217 currency code (e.g. USD, CNY)', currency);
  }
  const products = properties.products;
  if (products !== undefined) {
    if (!Array.isArray(products)) {
      problem('products', 'invalid_field', 'an array of products', products);
    } else {
      products.forEach((product: unknown, i) => {
        if (typeof product !== 'object' || product === null || Array.isArray(product)) {
          problem(`products[${i}]`, 'invalid_field', 'a product object', product);
          return;
        }
        const { price, quantity } = product as Record<string, unknown>;
        if (price !== undefined && !isMoney(price)) problem(`products[${i}].price`, 'invalid_money', 'a non-negative number', price);
        if (quantity !== undefined && !(Number.isInteger(quantity) && (quantity as number) > 0))
          problem(`products[${i}].quantity`, 'invalid_field', 'a positive integer', quantity);
      });
    }
  }
  return problems;
}
