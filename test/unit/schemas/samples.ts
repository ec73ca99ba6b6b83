import type {
  DeadLetterRecord,
  EventRecord,
  IdentityChangeRecord,
  LifecycleTransitionRecord,
  MemberEventRecord,
  SegmentChangeRecord,
  TriggerFiringRecord,
} from '../../../schemas/records.ts';

export const sampleEvent: EventRecord = {
  messageId: 'msg-1',
  type: 'track',
  userId: 'user_1',
  anonymousId: 'anon-1',
  previousId: null,
  groupId: null,
  event: 'Order Completed',
  name: null,
  timestamp: Date.UTC(2026, 0, 5, 10),
  originalTimestamp: Date.UTC(2026, 0, 5, 10),
  sentAt: Date.UTC(2026, 0, 5, 10, 0, 1),
  receivedAt: Date.UTC(2026, 0, 5, 10, 0, 2),
  context: '{"timezone":"Asia/Shanghai"}',
  properties: '{"order_id":"o1","total":42.5,"currency":"USD"}',
  traits: '{}',
  integrations: '{}',
  source: 'web',
  flags: ['timestamp_in_future'],
};

export const sampleSegmentChange: SegmentChangeRecord = {
  id: 'sc-1',
  memberId: 'm1',
  segmentId: 'vip',
  ruleVersion: 3,
  change: 'entered',
  at: Date.UTC(2026, 0, 5),
  causeEventId: 'msg-1',
  values: '{"orders_30d":3}',
};

export const sampleTrigger: TriggerFiringRecord = {
  id: 't-1',
  memberId: 'm1',
  ruleId: 'welcome',
  ruleVersion: 1,
  outcome: 'suppressed',
  reason: 'quiet_hours',
  at: Date.UTC(2026, 0, 5),
  causeEventId: null,
  businessLine: 'beauty',
  values: '{}',
};

export const sampleLifecycle: LifecycleTransitionRecord = {
  id: 'l-1',
  memberId: 'm1',
  fromStage: 'active',
  toStage: 'silent',
  at: Date.UTC(2026, 1, 5),
  causeEventId: null,
  reason: 'no_order_30d',
};

export const sampleDeadLetter: DeadLetterRecord = {
  id: 'segstream.events.v1/3/42',
  reason: 'undecodable',
  detail: 'expected magic byte 0',
  sourceTopic: 'segstream.events.v1',
  sourcePartition: 3,
  sourceOffset: 42,
  key: Buffer.from('anon-1'),
  value: Buffer.from([1, 2, 3]),
  at: Date.UTC(2026, 0, 5),
};

export const sampleMemberEvent: MemberEventRecord = { ...sampleEvent, memberId: 'm1' };

export const sampleIdentityChange: IdentityChangeRecord = {
  action: 'merged',
  memberId: 'm1',
  kind: '',
  identityHash: '',
  otherMemberId: 'm0',
  at: Date.UTC(2026, 0, 5),
  messageId: 'msg-1',
};
