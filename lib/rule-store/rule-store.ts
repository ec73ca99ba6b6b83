import type { Redis } from 'ioredis';
import type { ComputedTraitSpec } from '../../domain/rules/computed-traits.ts';
import type { RuleEnvironment } from '../../domain/rules/segment-rules.ts';
import type { TriggerControls, TriggerPattern, TriggerRule } from '../../domain/rules/trigger-rules.ts';
import type { ValueType } from '../../domain/rules/variables.ts';

/** The kinds of rule the engine stores (docs/rules.md). */
export type RuleKind = 'segment' | 'trigger' | 'computed_trait';

/** Fields only some kinds have: a trigger's pattern, audience, schedule and controls; a computed trait's aggregate. */
export interface KindFields {
  readonly on?: TriggerPattern;
  readonly businessLine?: string;
  readonly audience?: string;
  readonly schedule?: { readonly from?: number; readonly to?: number };
  readonly controls?: TriggerControls;
  /** Computed traits: what is aggregated over which window; `condition` filters the events. */
  readonly computed?: ComputedTraitSpec;
}

/** One version of a rule, as stored and as the admin API shows it. */
export interface StoredRule extends KindFields {
  readonly id: string;
  readonly kind: RuleKind;
  readonly name: string;
  readonly description: string;
  readonly condition: unknown;
  readonly active: boolean;
  readonly version: number;
  readonly updatedAt: number;
  readonly updatedBy: string;
}

/** A stored trigger as the engine compiles it. */
export function triggerRuleOf(rule: StoredRule): TriggerRule {
  return {
    id: rule.id,
    version: rule.version,
    on: rule.on as TriggerPattern,
    condition: rule.condition,
    businessLine: rule.businessLine ?? 'default',
    audience: rule.audience,
    schedule: rule.schedule,
    controls: rule.controls ?? {},
  };
}

/** One line of the append-only audit log. */
export interface AuditEntry {
  readonly at: number;
  readonly actor: string;
  readonly action: string;
  readonly ruleId: string;
  readonly before: StoredRule | null;
  readonly after: StoredRule | null;
}

/*
 * Compare-and-set of one rule: the write happens only if the rule's version is still the
 * one the caller read. Then, atomically: the current definition (or its removal), the
 * version history, the audit entry and the revision processors poll.
 * KEYS: version hash, definitions hash, this rule's versions list, audit stream, revision.
 * ARGV: id, expected version, definition JSON ('' removes), audit JSON.
 */
const WRITE_SCRIPT = `
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if current ~= tonumber(ARGV[2]) then return {0, current} end
redis.call('HSET', KEYS[1], ARGV[1], current + 1)
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  redis.call('RPUSH', KEYS[3], ARGV[3])
end
redis.call('XADD', KEYS[4], '*', 'entry', ARGV[4])
redis.call('INCR', KEYS[5])
return {1, current + 1}
`;

/** Progress of computing a segment rule version's membership for every existing member. */
export interface BackfillProgress {
  readonly ruleId: string;
  readonly version: number;
  readonly status: 'running' | 'done';
  readonly scanned: number;
  readonly entered: number;
  readonly exited: number;
  /** Where the member scan resumes ("0" before the start and after the end). */
  readonly cursor: string;
  readonly startedAt: number;
  readonly updatedAt: number;
}

// Takes or renews a lease: only when free or already held by the same owner.
const LEASE_SCRIPT = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

export class VersionConflictError extends Error {
  readonly currentVersion: number;

  constructor(ruleId: string, expected: number, current: number) {
    super(`rule ${ruleId} is at version ${current}, not ${expected}: it changed since it was read`);
    this.currentVersion = current;
  }
}

/**
 * Rules in Redis: all keys share the {rules} hash tag, so in Redis Cluster one script
 * writes them together. Versions are never removed; deleting a rule removes only its
 * current definition (its history and audit stay).
 */
export class RuleStore {
  readonly #redis: Redis;
  readonly #key: (name: string) => string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#key = (name) => `${prefix}{rules}:${name}`;
    this.#redis.defineCommand('segstreamWriteRule', { numberOfKeys: 5, lua: WRITE_SCRIPT });
    this.#redis.defineCommand('segstreamLease', { numberOfKeys: 1, lua: LEASE_SCRIPT });
  }

  async backfill(ruleId: string): Promise<BackfillProgress | null> {
    const json = await this.#redis.hget(this.#key('backfills'), ruleId);
    return json === null ? null : (JSON.parse(json) as BackfillProgress);
  }

  async saveBackfill(progress: BackfillProgress): Promise<void> {
    await this.#redis.hset(this.#key('backfills'), progress.ruleId, JSON.stringify(progress));
  }

  /** Takes (or renews) the right to run a rule's backfill for `ttlMs`; false while another processor holds it. */
  async leaseBackfill(ruleId: string, owner: string, ttlMs: number): Promise<boolean> {
    const lease = (this.#redis as unknown as { segstreamLease: (...args: string[]) => Promise<number> }).segstreamLease;
    return (await lease.call(this.#redis, this.#key(`backfill-lease:${ruleId}`), owner, String(ttlMs))) === 1;
  }

  /**
   * Processors record what rules may read (their counters, windows, computed traits) so
   * the admin API checks rules against what the processors actually keep.
   */
  async registerEnvironment(environment: RuleEnvironment): Promise<void> {
    await this.#redis.set(
      this.#key('environment'),
      JSON.stringify({ counters: environment.counters, windowsDays: environment.windowsDays, computedTraits: [...environment.computedTraits] }),
    );
  }

  async environment(): Promise<RuleEnvironment | null> {
    const json = await this.#redis.get(this.#key('environment'));
    if (json === null) return null;
    const parsed = JSON.parse(json) as { counters: string[]; windowsDays: number[]; computedTraits: [string, ValueType][] };
    return { counters: parsed.counters, windowsDays: parsed.windowsDays, computedTraits: new Map(parsed.computedTraits) };
  }

  /** Increases with every change of any rule: processors reload when it moves. */
  async revision(): Promise<number> {
    return Number((await this.#redis.get(this.#key('revision'))) ?? 0);
  }

  async get(id: string): Promise<StoredRule | null> {
    const json = await this.#redis.hget(this.#key('definitions'), id);
    return json === null ? null : (JSON.parse(json) as StoredRule);
  }

  async list(): Promise<StoredRule[]> {
    const all = await this.#redis.hgetall(this.#key('definitions'));
    return Object.values(all)
      .map((json) => JSON.parse(json) as StoredRule)
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  /** The latest version number a rule had (0 if it never existed), including deletions. */
  async latestVersion(id: string): Promise<number> {
    return Number((await this.#redis.hget(this.#key('versions'), id)) ?? 0);
  }

  async versions(id: string): Promise<StoredRule[]> {
    return (await this.#redis.lrange(this.#key(`history:${id}`), 0, -1)).map((json) => JSON.parse(json) as StoredRule);
  }

  /**
   * Writes a new version (the rule's version is set here) or, with `rule` null, removes the
   * current definition. Fails with VersionConflictError if the rule changed since `expectedVersion`.
   */
  async write(
    id: string,
    expectedVersion: number,
    rule: Omit<StoredRule, 'version'> | null,
    audit: { actor: string; action: string; before: StoredRule | null; at: number },
  ): Promise<StoredRule | null> {
    const after = rule ? { ...rule, version: expectedVersion + 1 } : null;
    const entry: AuditEntry = { at: audit.at, actor: audit.actor, action: audit.action, ruleId: id, before: audit.before, after };
    const [written, current] = (await (this.#redis as unknown as { segstreamWriteRule: (...args: string[]) => Promise<[number, number]> }).segstreamWriteRule(
      this.#key('versions'),
      this.#key('definitions'),
      this.#key(`history:${id}`),
      this.#key('audit'),
      this.#key('revision'),
      id,
      String(expectedVersion),
      after ? JSON.stringify(after) : '',
      JSON.stringify(entry),
    )) as [number, number];
    if (written === 0) throw new VersionConflictError(id, expectedVersion, current);
    return after;
  }

  /** The audit log, oldest first, optionally only about one rule. */
  async audit(options: { ruleId?: string; limit?: number } = {}): Promise<AuditEntry[]> {
    const rows = (await this.#redis.xrange(this.#key('audit'), '-', '+')) as [string, string[]][];
    const entries = rows.map(([, fields]) => JSON.parse(fields[1] as string) as AuditEntry).filter((e) => !options.ruleId || e.ruleId === options.ruleId);
    return options.limit ? entries.slice(-options.limit) : entries;
  }
}
