import { describeValue, type FieldProblem } from './problems.ts';

/** Segment e-commerce events whose money fields the engine relies on (RFM, LTV, attribution). */
export const ORDER_EVENTS: ReadonlySet<string> = new Set(['Order Completed', 'Order Refunded']);

/**
 * An order event's spec name whatever its case and spacing ("order completed",
 * "Order_Completed"): each is checked as the order it looks like, though only the spec
 * name counts as an order downstream.
 */
const orderEventNamed = (event: string): string | undefined => {
  const folded = event
    .trim()
    .replace(/[\s_-]+/g, ' ')
    .toLowerCase();
  for (const name of ORDER_EVENTS) if (name.toLowerCase() === folded) return name;
  return undefined;
};

const MONEY_FIELDS = ['total', 'revenue', 'subtotal', 'shipping', 'tax', 'discount', 'value'] as const;
const CURRENCY = /^[A-Z]{3}$/;

/**
 * Money above this is refused: history stores amounts as Decimal(18, 2), and member
 * state sums them as doubles, exact to the cent only below about 9 x 10^13.
 */
export const MAX_MONEY = 1_000_000_000_000;

const isMoney = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= MAX_MONEY;
const MONEY = `a non-negative number of at most ${MAX_MONEY.toLocaleString('en-US')} (e.g. 42.5), not text`;

/**
 * Checks an order event's properties against the Segment e-commerce spec: an order_id,
 * a total or revenue, money as non-negative numbers, an ISO 4217 currency code, and
 * products with numeric price and quantity.
 */
export function orderProblems(name: string, properties: Record<string, unknown>, index: number | null, prefix: string): FieldProblem[] {
  const event = orderEventNamed(name);
  if (event === undefined) return [];
  const problems: FieldProblem[] = [];
  const at = (field: string) => `${prefix}properties.${field}`;
  const problem = (field: string, reason: FieldProblem['reason'], expected: string, value: unknown) =>
    problems.push({ index, field: at(field), reason, expected, received: describeValue(value) });

  const orderId = properties.order_id;
  if (!((typeof orderId === 'string' && orderId.trim() !== '') || (typeof orderId === 'number' && Number.isFinite(orderId)))) {
    problem('order_id', orderId === undefined ? 'missing_field' : 'invalid_field', `the order id (a non-empty string) on "${name}"`, orderId);
  }
  if (properties.total === undefined && properties.revenue === undefined) {
    problem('total', 'missing_field', `total or revenue (a non-negative number) on "${name}"`, undefined);
  }
  for (const field of MONEY_FIELDS) {
    const value = properties[field];
    if (value !== undefined && !isMoney(value)) problem(field, 'invalid_money', MONEY, value);
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
        if (price !== undefined && !isMoney(price)) problem(`products[${i}].price`, 'invalid_money', MONEY, price);
        if (quantity !== undefined && !(Number.isInteger(quantity) && (quantity as number) > 0))
          problem(`products[${i}].quantity`, 'invalid_field', 'a positive integer', quantity);
      });
    }
  }
  return problems;
}
