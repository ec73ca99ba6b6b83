import { CAMPAIGNS, createCatalog, type Product } from './catalog.ts';
import { createPerson, LOCAL_HOUR_WEIGHTS, type Person } from './people.ts';
import { Random } from './random.ts';
import type { SegmentMessage, WorkloadEvent } from './segment-message.ts';

export interface WorkloadOptions {
  readonly seed: number | string;
  /** People who appear over the span (visitors; some sign up, some buy). */
  readonly members: number;
  /** Length of the simulated span in days. */
  readonly days: number;
  /** Start of day 0, epoch ms (UTC midnight). */
  readonly start: number;
  readonly currency: string;
  /** Multiplies everyone's sessions per day. */
  readonly activity: number;
}

export const DEFAULT_WORKLOAD: Omit<WorkloadOptions, 'seed' | 'members' | 'days'> = Object.freeze({
  start: Date.UTC(2026, 0, 1),
  currency: 'USD',
  activity: 1,
});

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** The largest UTC offset of any zone: a session of local day d+1 never starts before day d+1 - 14h UTC. */
const MAX_OFFSET_MS = 14 * HOUR_MS;

interface Coupon {
  readonly couponId: string;
  readonly code: string;
  readonly discountCents: number;
  readonly usableFrom: number;
  readonly expiresAt: number;
}

interface PersonState {
  readonly person: Person;
  anonymousId: string;
  deviceId: string;
  userId: string | null;
  grouped: boolean;
  orders: number;
  coupons: Coupon[];
}

interface Pending {
  readonly seq: number;
  readonly event: WorkloadEvent;
}

const cents = (value: number) => value / 100;

/**
 * A deterministic stream of Segment messages for a simulated shop: anonymous visits,
 * sign-ups with identify/alias, page/screen and product views, cart adds, orders with
 * heavy-tailed totals, refunds, coupons received and redeemed, campaign clicks with UTM
 * parameters, groups, birthdays and time zones. Events come out in timestamp order;
 * memory holds about two days of events whatever the total size.
 */
export function* generateWorkload(partial: Partial<WorkloadOptions> & Pick<WorkloadOptions, 'seed' | 'members' | 'days'>): Generator<WorkloadEvent> {
  const options: WorkloadOptions = { ...DEFAULT_WORKLOAD, ...partial };
  const random = new Random(options.seed);
  const catalog = createCatalog(random, 400);
  const people: PersonState[] = Array.from({ length: options.members }, (_, i) => {
    const person = createPerson(random, i, options.days);
    return { person, anonymousId: random.uuid(), deviceId: random.hex(16), userId: null, grouped: false, orders: 0, coupons: [] };
  });
  let pending: Pending[] = [];
  let seq = 0;
  // Sessions stay inside the UTC span; two hours is more than any session lasts.
  const lastSessionStart = options.start + options.days * DAY_MS - 2 * HOUR_MS;
  const emit = (at: number, state: PersonState, message: Omit<SegmentMessage, 'messageId' | 'timestamp'>) => {
    const full = { messageId: random.uuid(), timestamp: new Date(at).toISOString(), ...message } as SegmentMessage;
    pending.push({ seq: seq++, event: { at, person: state.person.index, message: full } });
  };

  for (let day = 0; day < options.days; day++) {
    const dayStart = options.start + day * DAY_MS;
    for (const state of people) {
      const { person } = state;
      if (day < person.arrivalDay || day > person.lastActiveDay) continue;
      if (state.userId && random.chance(0.03)) receiveCoupon(state, dayStart + random.int(0, DAY_MS - 1));
      const sessions =
        day === person.arrivalDay
          ? Math.max(1, random.poisson(person.sessionsPerDay * options.activity))
          : random.poisson(person.sessionsPerDay * options.activity);
      const starts = Array.from(
        { length: sessions },
        () => dayStart - person.offsetMs + random.weighted(LOCAL_HOUR_WEIGHTS) * HOUR_MS + random.int(0, HOUR_MS - 1),
      ).sort((a, b) => a - b);
      for (const startAt of starts) if (startAt >= options.start && startAt < lastSessionStart) session(state, startAt);
    }
    // Everything before the watermark is final: no later-generated event can precede it.
    const watermark = dayStart + DAY_MS - MAX_OFFSET_MS;
    pending.sort((a, b) => a.event.at - b.event.at || a.seq - b.seq);
    const cut = pending.findIndex((p) => p.event.at >= watermark);
    const ready = cut === -1 ? pending : pending.slice(0, cut);
    pending = cut === -1 ? [] : pending.slice(cut);
    for (const p of ready) yield p.event;
  }
  pending.sort((a, b) => a.event.at - b.event.at || a.seq - b.seq);
  for (const p of pending) yield p.event;

  function ids(state: PersonState) {
    return state.userId ? { anonymousId: state.anonymousId, userId: state.userId } : { anonymousId: state.anonymousId };
  }

  function context(state: PersonState, extra: Record<string, unknown> = {}): Record<string, unknown> {
    const { person } = state;
    return {
      library: { name: 'segstream-workload', version: '1' },
      timezone: person.timeZone,
      device: { id: state.deviceId, type: person.usesApp ? 'ios' : 'browser' },
      ...extra,
    };
  }

  function receiveCoupon(state: PersonState, at: number) {
    const discountCents = random.pick([500, 1000, 1500, 2000]);
    const coupon: Coupon = {
      couponId: `c_${random.hex(10)}`,
      code: `SAVE${discountCents / 100}-${random.hex(6).toUpperCase()}`,
      discountCents,
      usableFrom: at,
      expiresAt: at + 14 * DAY_MS,
    };
    state.coupons = state.coupons.filter((c) => c.expiresAt > at); // expired coupons are gone for good
    state.coupons.push(coupon);
    emit(at, state, {
      type: 'track',
      userId: state.userId as string,
      event: 'Coupon Received',
      properties: {
        coupon_id: coupon.couponId,
        coupon_code: coupon.code,
        discount: cents(discountCents),
        currency: options.currency,
        expires_at: new Date(coupon.expiresAt).toISOString(),
      },
      context: context(state),
    });
  }

  function session(state: PersonState, startAt: number) {
    const { person } = state;
    let t = startAt;
    const tick = () => {
      t += random.int(5_000, 90_000);
      return t;
    };
    if (state.userId && random.chance(0.15)) {
      state.anonymousId = random.uuid(); // a new device or cleared cookies
      state.deviceId = random.hex(16);
    }
    const campaign = random.chance(0.2) ? random.pick(CAMPAIGNS) : null;
    const campaignContext = campaign ? { campaign: { name: campaign.name, source: campaign.source, medium: campaign.medium } } : {};
    if (campaign?.owned) {
      emit(t, state, {
        type: 'track',
        ...ids(state),
        event: 'Campaign Clicked',
        properties: { campaign: campaign.name, channel: campaign.medium },
        context: context(state, campaignContext),
      });
    }
    const view = (name: string, properties: Record<string, unknown>) =>
      emit(tick(), state, { type: person.usesApp ? 'screen' : 'page', ...ids(state), name, properties, context: context(state, campaignContext) });
    const utm = campaign ? `?utm_source=${campaign.source}&utm_medium=${campaign.medium}&utm_campaign=${campaign.name}` : '';
    view('Home', { path: '/', url: `https://shop.example.com/${utm}`, referrer: campaign ? `https://${campaign.source}.example.net/` : '' });

    if (state.userId && random.chance(0.5)) {
      emit(tick(), state, {
        type: 'track',
        ...ids(state),
        event: 'Logged In',
        properties: { method: random.pick(['password', 'wechat', 'sms_code']) },
        context: context(state),
      });
      if (random.chance(0.3)) identify(state, tick());
    }

    const cart: { product: Product; quantity: number }[] = [];
    const cartId = `cart_${random.hex(12)}`;
    const views = 1 + random.poisson(2);
    for (let i = 0; i < views; i++) {
      const product = random.pick(catalog);
      if (random.chance(0.2))
        emit(tick(), state, { type: 'track', ...ids(state), event: 'Products Searched', properties: { query: product.category }, context: context(state) });
      emit(tick(), state, { type: 'track', ...ids(state), event: 'Product Viewed', properties: productProperties(product), context: context(state) });
      if (random.chance(0.3)) {
        const quantity = random.weighted([
          [1, 8],
          [2, 2],
          [3, 1],
        ] as const);
        cart.push({ product, quantity });
        emit(tick(), state, {
          type: 'track',
          ...ids(state),
          event: 'Product Added',
          properties: { cart_id: cartId, ...productProperties(product), quantity },
          context: context(state),
        });
      }
    }

    if (!state.userId && person.willSignUp && random.chance(cart.length > 0 ? 0.6 : 0.2)) signUp(state, tick());
    if (cart.length > 0 && state.userId && random.chance(person.orderPropensity)) order(state, cart, tick(), tick);
  }

  function identify(state: PersonState, at: number) {
    const { person } = state;
    const traits: Record<string, unknown> = {
      email: person.email,
      phone: person.phone,
      first_name: person.email.split('.')[0],
      birthday: person.birthday,
      timezone: person.timeZone,
      ...(person.wechat ? { wechat_openid: person.wechat.openId, wechat_unionid: person.wechat.unionId } : {}),
    };
    emit(at, state, { type: 'identify', anonymousId: state.anonymousId, userId: state.userId as string, traits, context: context(state) });
  }

  function signUp(state: PersonState, at: number) {
    state.userId = `user_${state.person.index + 1}`;
    emit(at, state, {
      type: 'track',
      ...ids(state),
      event: 'Signed Up',
      properties: { method: random.pick(['email', 'phone', 'wechat']) },
      context: context(state),
    });
    identify(state, at + 1_000);
    if (random.chance(0.3)) emit(at + 2_000, state, { type: 'alias', previousId: state.anonymousId, userId: state.userId, context: context(state) });
    if (state.person.company && !state.grouped) {
      state.grouped = true;
      emit(at + 3_000, state, {
        type: 'group',
        userId: state.userId,
        groupId: state.person.company.id,
        traits: { name: state.person.company.name, plan: 'business' },
        context: context(state),
      });
    }
  }

  function order(state: PersonState, cart: readonly { product: Product; quantity: number }[], at: number, tick: () => number) {
    const subtotal = cart.reduce((sum, line) => sum + line.product.priceCents * line.quantity, 0);
    const usable = state.coupons.filter((c) => c.usableFrom < at && c.expiresAt > at && c.discountCents < subtotal);
    const coupon = usable.length > 0 && random.chance(0.6) ? (usable[0] as Coupon) : null;
    const discount = coupon?.discountCents ?? 0;
    const revenue = subtotal - discount;
    const shipping = subtotal >= 5_000 ? 0 : 599;
    const tax = Math.round(revenue * 0.08);
    const total = revenue + shipping + tax;
    const orderId = `o_${state.person.index + 1}_${++state.orders}`;
    const products = cart.map((line) => ({ ...productProperties(line.product), quantity: line.quantity }));
    emit(at, state, {
      type: 'track',
      ...ids(state),
      event: 'Checkout Started',
      properties: { order_id: orderId, value: cents(subtotal), currency: options.currency, products },
      context: context(state),
    });
    emit(tick(), state, {
      type: 'track',
      ...ids(state),
      event: 'Order Completed',
      properties: {
        order_id: orderId,
        checkout_id: orderId,
        total: cents(total),
        subtotal: cents(subtotal),
        revenue: cents(revenue),
        shipping: cents(shipping),
        tax: cents(tax),
        discount: cents(discount),
        ...(coupon ? { coupon: coupon.code } : {}),
        currency: options.currency,
        products,
      },
      context: context(state),
    });
    if (coupon) {
      state.coupons = state.coupons.filter((c) => c !== coupon);
      emit(tick(), state, {
        type: 'track',
        ...ids(state),
        event: 'Coupon Redeemed',
        properties: { coupon_id: coupon.couponId, coupon_code: coupon.code, order_id: orderId, discount: cents(discount) },
        context: context(state),
      });
    }
    if (random.chance(0.06)) {
      const refundAt = at + random.int(1, 20) * DAY_MS + random.int(0, DAY_MS - 1);
      const full = random.chance(0.7);
      const refunded = full ? total : Math.max(1, Math.round((total * random.int(10, 90)) / 100));
      emit(refundAt, state, {
        type: 'track',
        ...ids(state),
        event: 'Order Refunded',
        properties: { order_id: orderId, total: cents(refunded), currency: options.currency, ...(full ? { products } : {}) },
        context: context(state),
      });
    }
  }
}

function productProperties(product: Product): Record<string, unknown> {
  return {
    product_id: product.product_id,
    sku: product.sku,
    category: product.category,
    brand: product.brand,
    name: product.name,
    price: cents(product.priceCents),
  };
}
