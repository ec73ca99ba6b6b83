import type { AvroSchema, SchemaCatalog } from './catalog.ts';
import type {
  DeadLetterRecord,
  EventRecord,
  IdentityChangeRecord,
  LifecycleTransitionRecord,
  MemberEventRecord,
  SegmentChangeRecord,
  TriggerFiringRecord,
} from './records.ts';

/** What a topic's record key is, documented for consumers in other languages. */
export interface KeySpec {
  readonly encoding: 'utf8-string';
  readonly meaning: string;
}

/**
 * One topic: its name, its key and its value schema. `V` is the TypeScript shape of the
 * value; it exists only at compile time so producers and consumers cannot mix topics up.
 */
export interface Topic<V> {
  readonly name: string;
  readonly key: KeySpec;
  readonly subject: string;
  readonly valueSchema: AvroSchema;
  readonly valueSchemaVersion: number;
  /** Phantom field carrying the value type; never set. */
  readonly __value?: V;
}

export type ValueOf<T> = T extends Topic<infer V> ? V : never;

export interface TopicNames {
  readonly events: string;
  readonly segmentChanges: string;
  readonly triggers: string;
  readonly lifecycle: string;
  readonly deadLetters: string;
  readonly memberEvents: string;
  readonly identityChanges: string;
}

export interface Topics {
  readonly events: Topic<EventRecord>;
  readonly segmentChanges: Topic<SegmentChangeRecord>;
  readonly triggers: Topic<TriggerFiringRecord>;
  readonly lifecycle: Topic<LifecycleTransitionRecord>;
  readonly deadLetters: Topic<DeadLetterRecord>;
  /** Internal: events as applied, with their member, for the history service. */
  readonly memberEvents: Topic<MemberEventRecord>;
  /** Internal: links, merges and refused links, for the history service. */
  readonly identityChanges: Topic<IdentityChangeRecord>;
}

export const DEFAULT_TOPIC_NAMES: TopicNames = Object.freeze({
  events: 'segstream.events.v1',
  segmentChanges: 'segstream.segment-changes.v1',
  triggers: 'segstream.triggers.v1',
  lifecycle: 'segstream.lifecycle.v1',
  deadLetters: 'segstream.dlq.v1',
  memberEvents: 'segstream.member-events.v1',
  identityChanges: 'segstream.identity-changes.v1',
});

/**
 * The events topic key: userId when present, else anonymousId, else (alias) previousId.
 * SDKs send the user id with every call once a person has logged in, and servers send
 * it alone, so everything a known person does, on any device or server, shares one
 * partition and stays in order; only what a device did before its login sits on its
 * anonymous id's partition, and is folded in when the login links it (docs/processors.md,
 * "Order across partitions").
 */
export function eventsTopicKey(ids: { readonly anonymousId?: string | null; readonly userId?: string | null; readonly previousId?: string | null }): string {
  return ids.userId ?? ids.anonymousId ?? ids.previousId ?? '';
}

const MEMBER_KEY: KeySpec = { encoding: 'utf8-string', meaning: 'memberId: all records of one member share a partition and stay in order' };

const LAYOUT: { readonly [K in keyof Topics]: { readonly subject: string; readonly key: KeySpec } } = {
  events: {
    subject: 'segstream.Event',
    key: {
      encoding: 'utf8-string',
      meaning: 'routing key of the person: userId when present, else anonymousId, else previousId (see eventsTopicKey, docs/processors.md)',
    },
  },
  segmentChanges: { subject: 'segstream.SegmentChange', key: MEMBER_KEY },
  triggers: { subject: 'segstream.TriggerFiring', key: MEMBER_KEY },
  lifecycle: { subject: 'segstream.LifecycleTransition', key: MEMBER_KEY },
  deadLetters: { subject: 'segstream.DeadLetter', key: { encoding: 'utf8-string', meaning: 'source topic and partition ("topic/partition")' } },
  memberEvents: { subject: 'segstream.MemberEvent', key: MEMBER_KEY },
  identityChanges: { subject: 'segstream.IdentityChange', key: MEMBER_KEY },
};

/** The immutable topic registry every producer and consumer takes its topics from. */
export function buildTopics(names: TopicNames, catalog: SchemaCatalog): Topics {
  const seen = new Map<string, string>();
  const topic = <V>(id: keyof Topics): Topic<V> => {
    const name = names[id];
    const clash = seen.get(name);
    if (clash) throw new Error(`topics ${clash} and ${id} are both named ${name}; each topic needs its own name`);
    seen.set(name, id);
    const latest = catalog.latest(LAYOUT[id].subject);
    return Object.freeze({ name, key: LAYOUT[id].key, subject: latest.subject, valueSchema: latest.schema, valueSchemaVersion: latest.version });
  };
  return Object.freeze({
    events: topic<EventRecord>('events'),
    segmentChanges: topic<SegmentChangeRecord>('segmentChanges'),
    triggers: topic<TriggerFiringRecord>('triggers'),
    lifecycle: topic<LifecycleTransitionRecord>('lifecycle'),
    deadLetters: topic<DeadLetterRecord>('deadLetters'),
    memberEvents: topic<MemberEventRecord>('memberEvents'),
    identityChanges: topic<IdentityChangeRecord>('identityChanges'),
  });
}

export function allTopics(topics: Topics): readonly Topic<unknown>[] {
  return [topics.events, topics.segmentChanges, topics.triggers, topics.lifecycle, topics.deadLetters, topics.memberEvents, topics.identityChanges];
}

export function topicNamesFromConfig(config: {
  readonly KAFKA_TOPIC_EVENTS: string;
  readonly KAFKA_TOPIC_SEGMENT_CHANGES: string;
  readonly KAFKA_TOPIC_TRIGGERS: string;
  readonly KAFKA_TOPIC_LIFECYCLE: string;
  readonly KAFKA_TOPIC_DLQ: string;
  readonly KAFKA_TOPIC_MEMBER_EVENTS: string;
  readonly KAFKA_TOPIC_IDENTITY_CHANGES: string;
}): TopicNames {
  return Object.freeze({
    events: config.KAFKA_TOPIC_EVENTS,
    segmentChanges: config.KAFKA_TOPIC_SEGMENT_CHANGES,
    triggers: config.KAFKA_TOPIC_TRIGGERS,
    lifecycle: config.KAFKA_TOPIC_LIFECYCLE,
    deadLetters: config.KAFKA_TOPIC_DLQ,
    memberEvents: config.KAFKA_TOPIC_MEMBER_EVENTS,
    identityChanges: config.KAFKA_TOPIC_IDENTITY_CHANGES,
  });
}
