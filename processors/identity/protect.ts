import type { KeyedHash } from '../../domain/privacy/keyed-hash.ts';
import { hashKind } from '../../domain/privacy/personal-data.ts';
import type { EventRecord } from '../../schemas/records.ts';

/**
 * Whether a JSON text may hold one of the traits as a key: one scan for all of them (an
 * escaped key could spell one otherwise, so any \u escape counts too).
 */
function keyFinder(identityTraits: readonly string[]): (json: string) => boolean {
  const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(['\\\\u', ...identityTraits.map((trait) => `"${literal(trait)}"`)].join('|'));
  return (json) => pattern.test(json);
}

function protectObject(json: string, identityTraits: readonly string[], mayName: (json: string) => boolean, hash: KeyedHash): string {
  if (!mayName(json)) return json;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return json;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return json;
  const object = value as Record<string, unknown>;
  let changed = false;
  for (const trait of identityTraits) {
    const raw = object[trait];
    if (raw === undefined) continue;
    delete object[trait];
    if (typeof raw === 'string' && raw.trim() !== '') object[`${trait}_hash`] = hash(hashKind(trait), raw);
    changed = true;
  }
  return changed ? JSON.stringify(object) : json;
}

/**
 * Gives the event as the engine may store it: every identity trait (phone, email,
 * OpenID, ...) in traits and properties replaced by `<trait>_hash`, its keyed hash. Done
 * once, before member state or history sees the event.
 */
export function eventProtector(identityTraits: readonly string[], hash: KeyedHash): (event: EventRecord) => EventRecord {
  const mayName = keyFinder(identityTraits);
  return (event) => {
    const traits = protectObject(event.traits, identityTraits, mayName, hash);
    const properties = protectObject(event.properties, identityTraits, mayName, hash);
    return traits === event.traits && properties === event.properties ? event : { ...event, traits, properties };
  };
}
