import { describe, expect, it } from 'vitest';
import { linkIdentities, mergedMember, refusedLinks } from '../../../domain/member/identity-links.ts';
import { emptyMemberState } from '../../../domain/member/member-state.ts';
import { MemberScenario } from '../../harness/member-scenario.ts';

const cause = { at: 1_000, messageId: 'msg-1' };

describe('identity links of a member', () => {
  it('links each identity the member does not list yet, once, in order', () => {
    const state = emptyMemberState('m-1');
    expect(linkIdentities(state, ['anon:a1', 'device:d1'], cause)).toEqual([
      { action: 'linked', memberId: 'm-1', kind: 'anon', identityHash: 'a1', otherMemberId: '', at: 1_000, messageId: 'msg-1' },
      { action: 'linked', memberId: 'm-1', kind: 'device', identityHash: 'd1', otherMemberId: '', at: 1_000, messageId: 'msg-1' },
    ]);
    // The same event again (a replay whose claims were made before a crash) links nothing twice.
    expect(linkIdentities(state, ['anon:a1', 'user:u1'], { at: 2_000, messageId: 'msg-2' })).toEqual([
      { action: 'linked', memberId: 'm-1', kind: 'user', identityHash: 'u1', otherMemberId: '', at: 2_000, messageId: 'msg-2' },
    ]);
    expect(state.identities).toEqual(['anon:a1', 'device:d1', 'user:u1']);
  });

  it('records refused links and merges with the event that caused them', () => {
    expect(refusedLinks('m-2', [{ identity: 'anon:shared', heldBy: 'm-1' }], cause)).toEqual([
      { action: 'refused', memberId: 'm-2', kind: 'anon', identityHash: 'shared', otherMemberId: 'm-1', at: 1_000, messageId: 'msg-1' },
    ]);
    expect(mergedMember('m-1', 'm-anon', cause)).toEqual({
      action: 'merged',
      memberId: 'm-1',
      kind: '',
      identityHash: '',
      otherMemberId: 'm-anon',
      at: 1_000,
      messageId: 'msg-1',
    });
  });

  it('emits one merged change when a member is folded in, none when it is folded in again', () => {
    const s = new MemberScenario({ start: '2026-03-01T10:00:00Z' });
    s.sendTo('anon', { type: 'page' });
    s.send({ type: 'identify', userId: 'u1' });
    expect(s.merge('anon', { causeEventId: 'login' }).identityChanges).toEqual([
      { action: 'merged', memberId: 'member-1', kind: '', identityHash: '', otherMemberId: 'anon', at: s.now(), messageId: 'login' },
    ]);
    expect(s.merge('anon', { causeEventId: 'login' }).identityChanges).toEqual([]);
  });
});
