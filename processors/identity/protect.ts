import type { EventRecord } from '../../schemas/records.ts';
import type { KeyedHash } from './keyed-hash.ts';

/** Whether the JSON text may hold one of the traits as a key (an escaped key could spell it otherwise). */
function mayName(json: string, identityTraits: readonly string[]): boolean {
  return json.includes('\\u') || identityTraits.some((trait) => json.includes(`"${trait}"`));
}

function protectObject(json: string, identityTraits: readonly string[], hash: KeyedHash): string {
  if (!mayName(json, identityTraits)) return json;
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
    if (typeof raw === 'string' && raw.trim() !== '') object[`${trait}_hash`] = hash(trait, raw);
    changed = true;
  }
  return changed ? JSON.stringify(object) : json;
}

/**
 * The event as the engine may store it: every identity trait (phone, email, OpenID, ...)
 * in traits and properties replaced by `<trait>_hash`, its keyed hash. Done once, before
 * member state or history sees the event.
 */
export function protectEvent(event: EventRecord, identityTraits: readonly string[], hash: KeyedHash): EventRecord {
  const traits = protectObject(event.traits, identityTraits, hash);
  const properties = protectObject(event.properties, identityTraits, hash);
  return traits === event.traits && properties === event.properties ? event : { ...event, traits, properties };
}
