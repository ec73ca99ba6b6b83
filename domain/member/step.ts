import type { EventRecord, IdentityChangeRecord, LifecycleTransitionRecord, SegmentChangeRecord, TriggerFiringRecord } from '../../schemas/records.ts';
import type { RuleSet } from '../rules/rule-set.ts';
import { applyComputedTraits } from './computed.ts';
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
  /** An event resolved to this member; `link` are identities ("kind:hash") that now point at it. */
  | { readonly kind: 'event'; readonly event: EventRecord; readonly link: readonly string[]; readonly position: SourcePosition; readonly merged: boolean }
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

/** The member's own time line: never before the last time its lifecycle was evaluated. */
function memberTime(state: MemberState, at: number): number {
  return Math.max(at, state.lifecycle?.evaluatedAt ?? 0);
}

function applyEventStep(member: WorkingMember, input: Extract<MemberInput, { kind: 'event' }>, { rules, settings }: StepContext): void {
  const { event, position } = input;
  const { state, outputs } = member;
  // Checks that fell due before this event happen first, at their own times (event time, not arrival).
  advanceClock(member, event.timestamp, { rules, settings });
  for (const identity of input.link) if (!state.identities.includes(identity)) state.identities.push(identity);
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
  target.outputs.transitions.push(...foldMember(target.state, source.state, at, context.settings.state));
  source.outputs.segmentChanges.push(...exitAllSegments(source.state, at, causeEventId));
}

/** Each check at the moment it fell due, in order, so records carry the time they became true. */
function advanceClock(member: WorkingMember, until: number, { rules, settings }: StepContext): void {
  const { state, outputs } = member;
  for (let checkAt = nextDueAt(state); checkAt !== null && checkAt <= until; checkAt = nextDueAt(state)) {
    const lifecycle = advanceTime(state, checkAt, settings.state);
    outputs.transitions.push(...lifecycle.outputs);
    const segmentsDue = state.segmentsCheckAt !== null && state.segmentsCheckAt <= checkAt;
    const changes =
      segmentsDue || lifecycle.changed.size > 0 || rules.segments.length === 0
        ? updateSegments(state, member.known, rules, checkAt, lifecycle.changed, null, settings)
        : [];
    outputs.segmentChanges.push(...changes);
    outputs.triggerFirings.push(
      ...dueTriggers(state, member.known, rules, checkAt, settings),
      ...applyTriggers(
        state,
        member.known,
        rules,
        { event: null, segmentChanges: changes, transitions: lifecycle.outputs, at: checkAt, changedTraits: NO_TRAITS },
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
