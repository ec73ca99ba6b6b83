import type { EventRecord, IdentityChangeRecord, LifecycleTransitionRecord, SegmentChangeRecord, TriggerFiringRecord } from '../../schemas/records.ts';
import type { RuleSet } from '../rules/rule-set.ts';
import { applyComputedTraits } from './computed.ts';
import { linkIdentities, mergedMember, type RefusedLink, refusedLinks } from './identity-links.ts';
import { advanceTime, applyEvent, type MemberState, nextDueAt } from './member-state.ts';
import { foldMember } from './merge.ts';
import { exitAllSegments, updateSegments } from './segments.ts';
import { applyTriggers, dueTriggers, type RuleSettings } from './triggers.ts';

/** What a member's unit of work emits, typed all the way to Kafka and ClickHouse. */
export interface MemberOutputs {
  readonly transitions: LifecycleTransitionRecord[];
  readonly segmentChanges: SegmentChangeRecord[];
  readonly triggerFirings: TriggerFiringRecord[];
  /** Links, merges and refused links the member's events made (history keeps them; kept with the state so a crash loses none). */
  readonly identityChanges: IdentityChangeRecord[];
}

export function noOutputs(): MemberOutputs {
  return { transitions: [], segmentChanges: [], triggerFirings: [], identityChanges: [] };
}

/**
 * A member while a unit of work changes it: its own copy of the state, whether it is a
 * known person (has a user id), and the outputs its steps emitted so far.
 */
export interface WorkingMember {
  readonly state: MemberState;
  known: boolean;
  readonly outputs: MemberOutputs;
}

export interface StepContext {
  readonly rules: RuleSet;
  readonly settings: RuleSettings;
}

/** Where an event was read: its source ("topic/partition") and offset, remembered so a re-read is skipped. */
export interface SourcePosition {
  readonly source: string;
  readonly offset: number;
}

/** Everything that changes a member goes through `stepMember` as one of these. */
export type MemberInput =
  /**
   * An event resolved to this member: `identities` are the event's identities ("kind:hash") that point at it
   * (linked by this event or before), `refused` the links refused to keep two known people apart.
   */
  | {
      readonly kind: 'event';
      readonly event: EventRecord;
      readonly identities: readonly string[];
      readonly refused: readonly RefusedLink[];
      readonly position: SourcePosition;
      readonly merged: boolean;
    }
  /** Another member turned out to be this one: its state folds in and it leaves every segment. */
  | { readonly kind: 'absorb'; readonly source: WorkingMember; readonly at: number; readonly causeEventId: string }
  /** Time passed with no event: every check that fell due up to `until` happens, at its own time. */
  | { readonly kind: 'clock'; readonly until: number }
  /** Rules changed (a rule version became active) or members merged: every segment is evaluated again. */
  | { readonly kind: 'reevaluate'; readonly at: number; readonly causeEventId: string | null };

const NO_TRAITS: ReadonlySet<string> = new Set();

/**
 * The one member step: `(member, input, rules, settings) -> (member', outputs)`, with no
 * I/O and nothing read from a clock, so a replay of the same inputs gives the same
 * state and the same outputs. The member is the unit of work's own copy and is changed
 * in place; outputs are appended to `member.outputs`.
 */
export function stepMember(member: WorkingMember, input: MemberInput, context: StepContext): void {
  if (input.kind === 'event') applyEventStep(member, input, context);
  else if (input.kind === 'absorb') absorbStep(member, input.source, input.at, input.causeEventId, context);
  else if (input.kind === 'clock') advanceClock(member, input.until, context);
  else reevaluate(member, input.at, input.causeEventId, context);
}

/**
 * The member's own time line, where `at` is decided: never before anything the member decided
 * earlier (an event, a check, a merge, its lifecycle). A late event, dated before them, is
 * decided at the member's time: its records never go back in time, and cooldowns and caps
 * count from there.
 */
function memberTime(state: MemberState, at: number): number {
  const when = Math.max(at, state.decidedAt ?? at, state.lifecycle?.evaluatedAt ?? at);
  state.decidedAt = when;
  return when;
}

function applyEventStep(member: WorkingMember, input: Extract<MemberInput, { kind: 'event' }>, { rules, settings }: StepContext): void {
  const { event, position } = input;
  const { state, outputs } = member;
  // Checks that fell due before this event happen first, at their own times (event time, not arrival).
  advanceClock(member, event.timestamp, { rules, settings });
  const cause = { at: event.timestamp, messageId: event.messageId };
  outputs.identityChanges.push(...linkIdentities(state, input.identities, cause), ...refusedLinks(state.memberId, input.refused, cause));
  if (event.userId) member.known = true;
  const applied = applyEvent(state, event, settings.state);
  outputs.transitions.push(...applied.outputs);
  const { changed } = applied;
  if (event.userId) changed.add('known');
  const at = memberTime(state, event.timestamp);
  for (const input of applyComputedTraits(state, event, rules, at)) changed.add(input);
  // Rules changed since the member was last evaluated: every segment is, now.
  const everySegment = input.merged || state.rulesRevision !== rules.revision;
  state.rulesRevision = rules.revision;
  const segmentChanges = updateSegments(state, member.known, rules, at, everySegment ? 'all' : changed, event.messageId, settings);
  outputs.segmentChanges.push(...segmentChanges);
  // Most events change no trait: no set is made for them.
  let changedTraits: Set<string> | undefined;
  for (const c of changed) {
    if (!c.startsWith('traits.')) continue;
    changedTraits ??= new Set();
    changedTraits.add(c.slice('traits.'.length));
  }
  outputs.triggerFirings.push(
    ...applyTriggers(
      state,
      member.known,
      rules,
      { event, segmentChanges, transitions: applied.outputs, at, changedTraits: changedTraits ?? NO_TRAITS },
      settings,
    ),
  );
  state.applied[position.source] = position.offset;
}

function absorbStep(target: WorkingMember, source: WorkingMember, at: number, causeEventId: string, context: StepContext): void {
  // Checks that fell due before the merge happen first, at their own times, as before an event: whether a
  // timer had fired them already must not matter (it depends on how far other partitions were).
  advanceClock(target, at, context);
  advanceClock(source, at, context);
  if (!target.state.mergedFrom.includes(source.state.memberId))
    target.outputs.identityChanges.push(mergedMember(target.state.memberId, source.state.memberId, { at, messageId: causeEventId }));
  source.outputs.segmentChanges.push(...exitAllSegments(source.state, memberTime(source.state, at), causeEventId));
  target.outputs.transitions.push(...foldMember(target.state, source.state, memberTime(target.state, at), context.settings.state));
}

/** Each check at the moment it fell due, in order, so records carry the time they became true. */
function advanceClock(member: WorkingMember, until: number, { rules, settings }: StepContext): void {
  const { state, outputs } = member;
  for (let checkAt = nextDueAt(state); checkAt !== null && checkAt <= until; checkAt = nextDueAt(state)) {
    const lifecycle = advanceTime(state, checkAt, settings.state);
    outputs.transitions.push(...lifecycle.outputs);
    const segmentsDue = state.segmentsCheckAt !== null && state.segmentsCheckAt <= checkAt;
    // At its own time, unless the member decided later already (a check a late event scheduled).
    const at = memberTime(state, checkAt);
    const changes =
      segmentsDue || lifecycle.changed.size > 0 || rules.segments.length === 0
        ? updateSegments(state, member.known, rules, at, lifecycle.changed, null, settings)
        : [];
    outputs.segmentChanges.push(...changes);
    outputs.triggerFirings.push(
      ...dueTriggers(state, member.known, rules, at, settings),
      ...applyTriggers(
        state,
        member.known,
        rules,
        { event: null, segmentChanges: changes, transitions: lifecycle.outputs, at, changedTraits: NO_TRAITS },
        settings,
      ),
    );
  }
}

function reevaluate(member: WorkingMember, at: number, causeEventId: string | null, { rules, settings }: StepContext): void {
  const { state, outputs } = member;
  const when = memberTime(state, at);
  state.rulesRevision = rules.revision;
  const changes = updateSegments(state, member.known, rules, when, 'all', causeEventId, settings);
  outputs.segmentChanges.push(...changes);
  // Also schedules calendar triggers for members that send no events.
  outputs.triggerFirings.push(
    ...applyTriggers(state, member.known, rules, { event: null, segmentChanges: changes, transitions: [], at: when, changedTraits: NO_TRAITS }, settings),
  );
}
