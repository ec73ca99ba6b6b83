/**
 * TypeScript shapes of the Avro records on each topic. Timestamps are epoch
 * milliseconds; JSON-valued fields are JSON object text. test/unit/schemas checks each
 * shape against its Avro schema.
 */

export type MessageType = 'track' | 'identify' | 'page' | 'screen' | 'group' | 'alias';
export const MESSAGE_TYPES: readonly MessageType[] = Object.freeze(['track', 'identify', 'page', 'screen', 'group', 'alias']);

export interface EventRecord {
  readonly messageId: string;
  readonly type: MessageType;
  readonly userId: string | null;
  readonly anonymousId: string | null;
  readonly previousId: string | null;
  readonly groupId: string | null;
  readonly event: string | null;
  readonly name: string | null;
  readonly timestamp: number;
  readonly originalTimestamp: number | null;
  readonly sentAt: number | null;
  readonly receivedAt: number;
  readonly context: string;
  readonly properties: string;
  readonly traits: string;
  readonly integrations: string;
  readonly source: string;
  readonly flags: readonly string[];
}

export interface SegmentChangeRecord {
  readonly id: string;
  readonly memberId: string;
  readonly segmentId: string;
  readonly ruleVersion: number;
  readonly change: 'entered' | 'exited';
  readonly at: number;
  readonly causeEventId: string | null;
  readonly values: string;
}

export type TriggerOutcome = 'fired' | 'suppressed' | 'held_out' | 'deferred';

export interface TriggerFiringRecord {
  readonly id: string;
  readonly memberId: string;
  readonly ruleId: string;
  readonly ruleVersion: number;
  readonly outcome: TriggerOutcome;
  readonly reason: string | null;
  readonly at: number;
  readonly causeEventId: string | null;
  readonly businessLine: string | null;
  readonly values: string;
}

export const LIFECYCLE_STAGES = Object.freeze(['prospect', 'new', 'active', 'declining', 'silent', 'churned', 'reactivated'] as const);
export type LifecycleStage = (typeof LIFECYCLE_STAGES)[number];

/** The classic 8 RFM groups (BRIEF.md), as members are labelled in rules, lookups and analytics. */
export const RFM_GROUPS = Object.freeze([
  'important-value',
  'important-develop',
  'important-keep',
  'important-retain',
  'general-value',
  'general-develop',
  'general-keep',
  'general-retain',
] as const);
export type RfmGroup = (typeof RFM_GROUPS)[number];

export interface LifecycleTransitionRecord {
  readonly id: string;
  readonly memberId: string;
  readonly fromStage: LifecycleStage | null;
  readonly toStage: LifecycleStage;
  readonly at: number;
  readonly causeEventId: string | null;
  readonly reason: string;
}

/** An event as the processors applied it, with the member it was applied to (segstream.member-events.v1, for the history service). */
export interface MemberEventRecord extends EventRecord {
  readonly memberId: string;
}

/** A change of the identity graph (segstream.identity-changes.v1, for the history service). */
export interface IdentityChangeRecord {
  readonly action: 'linked' | 'merged' | 'refused';
  readonly memberId: string;
  /** Identity kind; empty for merged. */
  readonly kind: string;
  readonly identityHash: string;
  /** For merged: the member folded in; for refused: the member that holds the identity. */
  readonly otherMemberId: string;
  readonly at: number;
  readonly messageId: string;
}

export interface DeadLetterRecord {
  readonly id: string;
  readonly reason: string;
  readonly detail: string;
  readonly sourceTopic: string;
  readonly sourcePartition: number;
  readonly sourceOffset: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly at: number;
}
