import { randomUUID } from 'node:crypto';
import { updateSegments } from '../../domain/member/segments.ts';
import { applyTriggers, type RuleSettings } from '../../domain/member/triggers.ts';
import type { RuleSet } from '../../domain/rules/rule-set.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import type { BackfillProgress, RuleStore } from '../../lib/rule-store/rule-store.ts';
import type { HistorySink } from '../history/history-writer.ts';
import type { LoadedMember, MemberStore, MemberWrite, OutboxEntry } from '../store/member-store.ts';
import { outboxEntries, segmentChangesIn, triggerFiringsIn } from '../store/member-store.ts';
import { timerShardOf } from './batch-processor.ts';
import type { OutputPublisher } from './output-publisher.ts';

/** Rules whose activation needs every existing member visited. */
function backfilled(rules: RuleSet): { id: string; version: number }[] {
  return [...rules.segments, ...rules.triggers.filter((t) => 'calendar' in t.rule.on)];
}

export interface BackfillDependencies {
  readonly members: MemberStore;
  readonly rules: RuleStore;
  readonly ruleSet: () => RuleSet;
  readonly settings: RuleSettings;
  readonly publisher: OutputPublisher;
  readonly history: HistorySink;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How many timer shards there are (the events topic's partitions), once known. */
  readonly timerShards: () => number | undefined;
  readonly pageSize: number;
  readonly leaseMs: number;
}

/**
 * Computes the membership of every existing member when a segment rule version becomes
 * active, in the background, a page of members at a time, beside live processing (the
 * same compare-and-set writes; a member changed meanwhile is read again). One processor
 * holds a lease per rule; the scan position is saved after every page, so another
 * processor resumes it if this one dies. Progress is readable over the rules API.
 */
export class SegmentBackfill {
  readonly #deps: BackfillDependencies;
  readonly #owner = randomUUID();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopping = false;

  constructor(deps: BackfillDependencies) {
    this.#deps = deps;
  }

  /** Runs on an interval (to resume backfills another processor left) and whenever `trigger` is called. */
  start(intervalMs: number): void {
    this.#timer = setInterval(() => this.trigger(), intervalMs);
  }

  /** Starts a round now unless one is running (e.g. the rules just changed). */
  trigger(): void {
    if (this.#stopping) return;
    this.#running ??= this.runOnce()
      .catch((error: unknown) => this.#deps.logger.error({ err: error instanceof Error ? error.message : String(error) }, 'segment backfill failed; retrying'))
      .finally(() => {
        this.#running = undefined;
      });
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#timer);
    await this.#running;
  }

  /**
   * Advances every unfinished backfill this processor can lease, until done or stopped:
   * segment rules (membership of existing members) and calendar triggers (their first
   * date scheduled for members that send no events).
   */
  async runOnce(): Promise<void> {
    if (this.#deps.timerShards() === undefined) return;
    for (const rule of backfilled(this.#deps.ruleSet())) {
      const progress = await this.#deps.rules.backfill(rule.id);
      if (progress?.version === rule.version && progress.status === 'done') continue;
      if (!(await this.#deps.rules.leaseBackfill(rule.id, this.#owner, this.#deps.leaseMs))) continue;
      const now = this.#deps.clock.now();
      let current: BackfillProgress =
        progress?.version === rule.version
          ? progress
          : { ruleId: rule.id, version: rule.version, status: 'running', scanned: 0, entered: 0, exited: 0, cursor: '0', startedAt: now, updatedAt: now };
      do {
        if (this.#stopping) return;
        const active = backfilled(this.#deps.ruleSet()).find((r) => r.id === rule.id);
        if (active?.version !== rule.version) break; // changed or deactivated meanwhile: the next round starts over
        current = await this.#page(current);
        await this.#deps.rules.saveBackfill(current);
        if (!(await this.#deps.rules.leaseBackfill(rule.id, this.#owner, this.#deps.leaseMs))) break;
      } while (current.status === 'running');
      if (current.status === 'done')
        this.#deps.logger.info({ rule: rule.id, version: rule.version, scanned: current.scanned, entered: current.entered }, 'segment backfill done');
    }
  }

  async #page(progress: BackfillProgress): Promise<BackfillProgress> {
    const { members, settings } = this.#deps;
    const page = await members.scanMembers(progress.cursor, this.#deps.pageSize);
    let pending = page.memberIds;
    let scanned = 0;
    let entered = 0;
    let exited = 0;
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > 10) throw new Error(`members kept changing during the backfill of ${progress.ruleId}; retrying the page`);
      const ruleSet = this.#deps.ruleSet();
      const at = this.#deps.clock.now();
      const loaded = await members.load(pending.map((memberId) => ({ memberId, messageIds: [] })));
      const writes: MemberWrite[] = [];
      for (const [memberId, member] of loaded as Map<string, LoadedMember>) {
        if (member.mergedInto || member.state.version === 0) continue;
        const changes = updateSegments(member.state, member.known, ruleSet, at, 'all', null, settings);
        // Also schedules calendar triggers for members that send no events.
        const firings = applyTriggers(
          member.state,
          member.known,
          ruleSet,
          { event: null, segmentChanges: changes, transitions: [], at, changedTraits: new Set() },
          settings,
        );
        writes.push({
          memberId,
          expectedVersion: member.version,
          state: member.state,
          known: member.known,
          outbox: outboxEntries([], changes, firings),
          seen: [],
          seenHorizon: 0,
          seenKeep: Number.MAX_SAFE_INTEGER,
          timerShard: timerShardOf(memberId, this.#deps.timerShards() as number),
        });
      }
      const conflicts = new Set(await members.save(writes));
      const outboxes = new Map<string, readonly OutboxEntry[]>();
      for (const write of writes) {
        if (conflicts.has(write.memberId)) continue;
        outboxes.set(write.memberId, [...(loaded.get(write.memberId) as LoadedMember).outbox, ...write.outbox]);
        scanned++;
        for (const entry of write.outbox) {
          const change = (entry.record as { segmentId: string; change: string }).change;
          if ((entry.record as { segmentId: string }).segmentId !== progress.ruleId) continue;
          if (change === 'entered') entered++;
          else exited++;
        }
      }
      await this.#deps.history.write({
        events: [],
        identityChanges: [],
        transitions: [],
        segmentChanges: segmentChangesIn(outboxes),
        triggerFirings: triggerFiringsIn(outboxes),
      });
      await this.#deps.publisher.publish(outboxes);
      pending = [...conflicts];
    }
    const done = page.cursor === '0';
    return {
      ...progress,
      status: done ? 'done' : 'running',
      cursor: page.cursor,
      scanned: progress.scanned + scanned,
      entered: progress.entered + entered,
      exited: progress.exited + exited,
      updatedAt: this.#deps.clock.now(),
    };
  }
}
