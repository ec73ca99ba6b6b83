import { ORDER_EVENTS } from '../ecommerce.ts';
import { describeValue, type FieldProblem } from '../problems.ts';

/**
 * How a Sensors-style order event (an event of the shop's own naming, with order id and
 * amount properties) becomes one of segstream's order events, so that RFM, lifecycle and
 * the analyses count it (INGEST_SENSORS_ORDER_EVENTS).
 */
export interface OrderMappingRule {
  /** The Segment e-commerce event it becomes: "Order Completed" or "Order Refunded". */
  readonly as: string;
  /** The property holding the order id. */
  readonly orderId: string;
  /** Properties holding the amount, first present wins (e.g. the paid amount, else the order amount). */
  readonly amount: readonly string[];
  /** The currency when the event has no `currency` property (ISO 4217). */
  readonly currency: string | null;
}

export type OrderMapping = ReadonlyMap<string, OrderMappingRule>;

/** The rules by Sensors event name; shown as the JSON they were written in (the README's configuration table). */
class OrderMappingRules extends Map<string, OrderMappingRule> {
  override toString(): string {
    return JSON.stringify(
      Object.fromEntries(
        [...this].map(([event, r]) => [event, { as: r.as, orderId: r.orderId, amount: r.amount, ...(r.currency ? { currency: r.currency } : {}) }]),
      ),
    );
  }
}

export const ORDER_MAPPING_FORMAT =
  'a JSON object {"<Sensors event>": {"as": "Order Completed" or "Order Refunded", "orderId": "<property>", "amount": "<property>" or ["<property>", ...], "currency"?: "<ISO 4217 code>"}}';

/** The mapping used when INGEST_SENSORS_ORDER_EVENTS is unset. */
export const DEFAULT_ORDER_MAPPING_JSON = JSON.stringify({
  PayOrder: { as: 'Order Completed', orderId: 'order_id', amount: ['order_actual_amount', 'order_amount'], currency: 'CNY' },
  RefundOrder: { as: 'Order Refunded', orderId: 'order_id', amount: ['refund_amount', 'order_actual_amount'], currency: 'CNY' },
});

const PROPERTY = /^[$A-Za-z_][A-Za-z0-9_$]{0,99}$/;
const CURRENCY = /^[A-Z]{3}$/;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseOrderMapping(text: string): OrderMapping | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(parsed)) return undefined;
  const rules = new OrderMappingRules();
  for (const [event, rule] of Object.entries(parsed)) {
    if (event.trim() === '' || !isObject(rule)) return undefined;
    const unknownKeys = Object.keys(rule).filter((k) => !['as', 'orderId', 'amount', 'currency'].includes(k));
    if (unknownKeys.length > 0) return undefined;
    const { as, orderId, amount, currency } = rule;
    if (typeof as !== 'string' || !ORDER_EVENTS.has(as)) return undefined;
    if (typeof orderId !== 'string' || !PROPERTY.test(orderId)) return undefined;
    const amounts = typeof amount === 'string' ? [amount] : amount;
    if (!Array.isArray(amounts) || amounts.length === 0 || !amounts.every((a) => typeof a === 'string' && PROPERTY.test(a))) return undefined;
    if (currency !== undefined && !(typeof currency === 'string' && CURRENCY.test(currency))) return undefined;
    rules.set(event, { as, orderId, amount: amounts as string[], currency: (currency as string | undefined) ?? null });
  }
  return rules;
}

const isMoney = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;

/**
 * The properties of a mapped order event: the event's own, plus `order_id`, `total` and
 * `currency` as the Segment e-commerce spec names them. Problems name the Sensors property.
 */
export function mapOrderProperties(
  event: string,
  rule: OrderMappingRule,
  properties: Record<string, unknown>,
  index: number | null,
  prefix: string,
): { properties: Record<string, unknown>; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const orderId = properties[rule.orderId];
  if (!((typeof orderId === 'string' && orderId.trim() !== '') || (typeof orderId === 'number' && Number.isFinite(orderId)))) {
    problems.push({
      index,
      field: `${prefix}properties.${rule.orderId}`,
      reason: orderId === undefined ? 'missing_field' : 'invalid_field',
      expected: `the order id (a non-empty string or a number) on "${event}", mapped to ${rule.as}`,
      received: describeValue(orderId),
    });
  }
  const amountProperty = rule.amount.find((p) => properties[p] !== undefined && properties[p] !== null);
  const amount = amountProperty === undefined ? undefined : properties[amountProperty];
  if (amountProperty === undefined || !isMoney(amount)) {
    problems.push({
      index,
      field: `${prefix}properties.${amountProperty ?? rule.amount[0]}`,
      reason: amountProperty === undefined ? 'missing_field' : 'invalid_money',
      expected: `the order amount (a non-negative number) in ${rule.amount.join(' or ')} on "${event}", mapped to ${rule.as}`,
      received: describeValue(amount),
    });
  }
  const mapped: Record<string, unknown> = { ...properties, order_id: typeof orderId === 'number' ? String(orderId) : orderId, total: amount };
  if (mapped.currency === undefined && rule.currency !== null) mapped.currency = rule.currency;
  return { properties: mapped, problems };
}
