import type { Redis } from 'ioredis';
import { DEFAULT_COUNTERS, DEFAULT_WINDOWS_DAYS } from '../../domain/member/counters.ts';
import { createLogger } from '../../lib/logger.ts';
import { ActiveRules } from '../../lib/rule-store/active-rules.ts';
import { RuleStore, type StoredRule } from '../../lib/rule-store/rule-store.ts';

/** A rule as a test writes it: an id and whatever differs from an active segment rule whose condition is true. */
export type RuleSpec = Partial<StoredRule> & { readonly id: string };

/**
 * Rules written to a fresh rule store (its own key prefix) in real Redis and loaded the way
 * a processor with the default counters and windows loads them.
 */
export async function activeRules(redis: Redis, specs: readonly RuleSpec[]): Promise<{ store: RuleStore; rules: ActiveRules }> {
  const store = new RuleStore(redis, `rules${Date.now()}${Math.random().toString(36).slice(2, 8)}:`);
  for (const spec of specs)
    await store.write(
      spec.id,
      0,
      { kind: 'segment', name: spec.id, description: '', condition: true, active: true, updatedAt: 0, updatedBy: 'test', ...spec },
      { actor: 'test', action: 'create', before: null, at: 0 },
    );
  const rules = new ActiveRules(
    store,
    { counters: DEFAULT_COUNTERS.map((c) => c.name), windowsDays: DEFAULT_WINDOWS_DAYS, computedTraits: new Map() },
    createLogger({ service: 'test', level: 'silent' }),
  );
  await rules.refresh();
  return { store, rules };
}
