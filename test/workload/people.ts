import type { Random } from './random.ts';

/** Time zones with the UTC offset used for local-time behaviour (DST ignored on purpose). */
export const TIME_ZONES: readonly (readonly [zone: string, offsetHours: number, weight: number])[] = [
  ['Asia/Shanghai', 8, 40],
  ['America/New_York', -5, 15],
  ['America/Los_Angeles', -8, 10],
  ['Europe/London', 0, 10],
  ['Europe/Berlin', 1, 10],
  ['Asia/Tokyo', 9, 8],
  ['Australia/Sydney', 10, 5],
  ['Asia/Kolkata', 5.5, 2],
];

export interface Person {
  readonly index: number;
  readonly timeZone: string;
  readonly offsetMs: number;
  /** Day (from the start) of the first visit. */
  readonly arrivalDay: number;
  /** Last day this person is active, after which they go quiet for good. */
  readonly lastActiveDay: number;
  readonly sessionsPerDay: number;
  readonly willSignUp: boolean;
  readonly orderPropensity: number;
  readonly usesApp: boolean;
  readonly birthday: string;
  readonly email: string;
  readonly phone: string;
  readonly wechat: { readonly openId: string; readonly unionId: string } | null;
  readonly company: { readonly id: string; readonly name: string } | null;
}

const FIRST_NAMES = ['Li', 'Wang', 'Zhang', 'Emma', 'Noah', 'Olivia', 'Liam', 'Mia', 'Yuki', 'Hana', 'Lucas', 'Sofia', 'Arjun', 'Chloe'];

export function createPerson(random: Random, index: number, days: number): Person {
  const [timeZone, offsetHours] = random.weighted(TIME_ZONES.map(([zone, offset, weight]) => [[zone, offset] as const, weight] as const));
  const arrivalDay = random.int(0, Math.max(0, Math.floor(days * 0.8)));
  const churns = random.chance(0.35);
  const lastActiveDay = churns ? Math.min(days - 1, arrivalDay + random.int(3, Math.max(3, days))) : days - 1;
  const birthYear = random.int(1960, 2006);
  const birthday = `${birthYear}-${String(random.int(1, 12)).padStart(2, '0')}-${String(random.int(1, 28)).padStart(2, '0')}`;
  const chinese = timeZone === 'Asia/Shanghai';
  const phone = chinese ? `+86138${String(10_000_000 + index).slice(-8)}` : `+1555${String(1_000_000 + index).slice(-7)}`;
  return {
    index,
    timeZone,
    offsetMs: offsetHours * 3_600_000,
    arrivalDay,
    lastActiveDay,
    sessionsPerDay: Math.min(3, random.logNormal(0.22, 0.8)),
    willSignUp: random.chance(0.6),
    orderPropensity: Math.min(0.7, random.logNormal(0.25, 0.7)),
    usesApp: random.chance(0.3),
    birthday,
    email: `${random.pick(FIRST_NAMES).toLowerCase()}.${index}@example.com`,
    phone,
    wechat: chinese && random.chance(0.8) ? { openId: `o${random.hex(27)}`, unionId: `u${random.hex(27)}` } : null,
    company: random.chance(0.03) ? { id: `acct_${random.int(1, 200)}`, name: `Company ${random.int(1, 200)}` } : null,
  };
}

/** Local hour-of-day preference: lunch and evening peaks. */
export const LOCAL_HOUR_WEIGHTS: readonly (readonly [number, number])[] = Array.from({ length: 24 }, (_, hour) => {
  const weight = hour < 7 ? 0.3 : hour < 11 ? 1 : hour < 14 ? 2 : hour < 18 ? 1.2 : hour < 23 ? 2.5 : 0.8;
  return [hour, weight] as const;
});
