import { randomUUID } from 'node:crypto';
import { stepMember } from '../../domain/member/step.ts';
import type { RuleSettings } from '../../domain/member/triggers.ts';
import type { RuleSet } from '../../domain/rules/rule-set.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import type { BackfillProgress, RuleStore } from '../../lib/rule-store/rule-store.ts';
import type { MemberStore } from '../store/member-store.ts';
import type { MemberDriver } from './member-driver.ts';
import type { UnitCompletion } from './unit-completion.ts';

/** Rules whose activation needs every existing member visited. */
function backfilled(rules: RuleSet): { id: string; version: number }[] {
  return [...rules.segments, ...rules.triggers.filter((t) => 'calendar' in t.rule.on)];
}

export interface BackfillDependencies {
  /** Scanned for the members to visit. */
  readonly members: MemberStore;
  readonly driver: MemberDriver;
  readonly completion: Pick<UnitCompletion, 'complete'>;
  readonly rules: RuleStore;
  readonly ruleSet: () => RuleSet;
  readonly settings: RuleSettings;
  /** The wall clock, for progress times. */
  readonly clock: Clock;
  /** The event time members are evaluated at (undefined while not known: the backfill waits). */
  readonly eventTime: () => Promise<number | undefined>;
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
    if (this.#deps.timerShards() === undefined || (await this.#deps.eventTime()) === undefined) return;
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
    const { members, driver, completion, settings, clock } = this.#deps;
    const page = await members.scanMembers(progress.cursor, this.#deps.pageSize);
    // Members are evaluated as of the event time the engine has reached (in a replay, the replay's time, not today).
    const at = (await this.#deps.eventTime()) ?? clock.now();
    let scanned = 0;
    const unit = await driver.run(
      {
        reads: async () => page.memberIds.map((memberId) => ({ memberId, messageIds: [] })),
        step: (members) => {
          const context = { rules: this.#deps.ruleSet(), settings };
          scanned = 0;
          for (const [memberId, loaded] of members.read) {
            if (loaded.mergedInto || loaded.state.version === 0) continue;
            scanned++;
            // A member evaluated under these very rules (an event since they changed, or another backfill) is as they make it already.
            if (loaded.state.rulesRevision !== context.rules.revision)
              stepMember(members.get(memberId), { kind: 'reevaluate', at, causeEventId: null }, context);
          }
        },
      },
      clock.now(),
    );
    let entered = 0;
    let exited = 0;
    for (const member of unit.saved)
      for (const change of member.outputs.segmentChanges) {
        if (change.segmentId !== progress.ruleId) continue;
        if (change.change === 'entered') entered++;
        else exited++;
      }
    await completion.complete({ outboxes: unit.outboxes });
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
