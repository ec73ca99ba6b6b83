import type { Random } from './random.ts';

export interface Product {
  readonly product_id: string;
  readonly sku: string;
  readonly category: string;
  readonly brand: string;
  readonly name: string;
  /** Price in cents, so order arithmetic is exact. */
  readonly priceCents: number;
}

const CATEGORIES = ['apparel', 'shoes', 'beauty', 'electronics', 'home', 'grocery', 'toys', 'sports'];
const BRANDS = ['Acme', 'Northwind', 'Contoso', 'Fabrikam', 'Globex', 'Initech', 'Umbrella', 'Stark'];

/** A fixed product catalog with heavy-tailed prices, the same for a given seed. */
export function createCatalog(random: Random, size: number): readonly Product[] {
  return Array.from({ length: size }, (_, i) => {
    const category = random.pick(CATEGORIES);
    return {
      product_id: `p_${i + 1}`,
      sku: `SKU-${String(i + 1).padStart(5, '0')}`,
      category,
      brand: random.pick(BRANDS),
      name: `${category} item ${i + 1}`,
      priceCents: Math.max(99, Math.round(random.logNormal(2_500, 0.9) / 10) * 10 - 1),
    };
  });
}

export const CAMPAIGNS: readonly { readonly name: string; readonly source: string; readonly medium: string; readonly owned: boolean }[] = [
  { name: 'spring_sale', source: 'newsletter', medium: 'email', owned: true },
  { name: 'vip_recall', source: 'sms', medium: 'sms', owned: true },
  { name: 'app_push_weekly', source: 'push', medium: 'push', owned: true },
  { name: 'wechat_member_day', source: 'wechat', medium: 'social', owned: true },
  { name: 'brand_search', source: 'google', medium: 'cpc', owned: false },
  { name: 'retargeting', source: 'facebook', medium: 'paid_social', owned: false },
  { name: 'affiliate_deals', source: 'partner', medium: 'affiliate', owned: false },
];
