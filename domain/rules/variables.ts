/**
 * The variables a rule may read from the member context, and their types, so a rule
 * naming an unknown variable or comparing a text with a number is rejected when it is
 * written rather than silently never matching. docs/rules.md lists them for operators.
 */
import { LIFECYCLE_STAGES, MESSAGE_TYPES, RFM_GROUPS } from '../../schemas/records.ts';

export type ValueType = 'number' | 'string' | 'boolean' | 'timestamp' | 'array' | 'any';

export interface VariableType {
  readonly type: ValueType;
  /** For texts with a closed set of values (lifecycle stage, RFM group): comparing with anything else is an error. */
  readonly values?: readonly string[];
}

/** What the catalog is built from: the processors' configuration and the other rules. */
export interface VariableSources {
  readonly counters: readonly string[];
  readonly windowsDays: readonly number[];
  readonly computedTraits: ReadonlyMap<string, ValueType>;
  /** Whether `event.*` may be read (trigger conditions run on the event that fired them). */
  readonly event?: boolean;
}

const FIXED: Readonly<Record<string, VariableType>> = {
  member_id: { type: 'string' },
  known: { type: 'boolean' },
  first_seen_at: { type: 'timestamp' },
  last_seen_at: { type: 'timestamp' },
  'orders.count': { type: 'number' },
  'orders.spend': { type: 'number' },
  'orders.refunds': { type: 'number' },
  'orders.refunded': { type: 'number' },
  'orders.first_at': { type: 'timestamp' },
  'orders.last_at': { type: 'timestamp' },
  'rfm.recency_days': { type: 'number' },
  'rfm.frequency': { type: 'number' },
  'rfm.monetary': { type: 'number' },
  'rfm.r': { type: 'number' },
  'rfm.f': { type: 'number' },
  'rfm.m': { type: 'number' },
  'rfm.group': { type: 'string', values: RFM_GROUPS },
  'lifecycle.stage': { type: 'string', values: LIFECYCLE_STAGES },
  'lifecycle.since': { type: 'timestamp' },
  segments: { type: 'array' },
};

const EVENT_FIXED: Readonly<Record<string, VariableType>> = {
  'event.type': { type: 'string', values: MESSAGE_TYPES },
  'event.event': { type: 'string' },
  'event.name': { type: 'string' },
  'event.timestamp': { type: 'timestamp' },
  'event.message_id': { type: 'string' },
};

export interface VariableCatalog {
  /** The variable's type, or a sentence saying why the name is not known. */
  lookup(name: string): { readonly ok: true; readonly type: VariableType } | { readonly ok: false; readonly reason: string };
}

export function variableCatalog(sources: VariableSources): VariableCatalog {
  const windows = new Set(sources.windowsDays.map((d) => `${d}d`));
  const counters = new Set(sources.counters);
  return {
    lookup(name) {
      const fixed = FIXED[name] ?? (sources.event ? EVENT_FIXED[name] : undefined);
      if (fixed) return { ok: true, type: fixed };
      const [root, ...rest] = name.split('.');
      if (root === 'traits' && rest.length > 0 && rest.every((part) => part !== '')) return { ok: true, type: { type: 'any' } };
      if (sources.event && root === 'event' && (rest[0] === 'properties' || rest[0] === 'traits' || rest[0] === 'context') && rest.length > 1)
        return { ok: true, type: { type: 'any' } };
      if (root === 'counters') {
        const [counter, window, field] = rest;
        if (rest.length !== 3 || counter === undefined || !counters.has(counter))
          return { ok: false, reason: `counters are read as counters.<counter>.<window>.count or .sum; known counters: ${[...counters].join(', ')}` };
        if (!windows.has(window as string))
          return { ok: false, reason: `counter windows are ${[...windows].join(', ')} (use the "counter" operator for other day counts)` };
        if (field !== 'count' && field !== 'sum') return { ok: false, reason: 'a counter window has "count" and "sum"' };
        return { ok: true, type: { type: 'number' } };
      }
      if (root === 'computed') {
        const type = rest.length === 1 ? sources.computedTraits.get(rest[0] as string) : undefined;
        if (type) return { ok: true, type: { type } };
        return { ok: false, reason: `known computed traits: ${[...sources.computedTraits.keys()].join(', ') || '(none)'}` };
      }
      return {
        ok: false,
        reason: `known variables: ${[...Object.keys(FIXED), ...(sources.event ? [...Object.keys(EVENT_FIXED), 'event.properties.*'] : []), 'traits.*', 'counters.<counter>.<window>.count|sum', 'computed.*'].join(', ')}`,
      };
    },
  };
}
