import { describe, expect, it } from 'vitest';
import { emptyMemberState } from '../../../domain/member/member-state.ts';
import { channelOptOutTrait, isYes, optedOut } from '../../../domain/member/triggers.ts';

const withTraits = (traits: Record<string, unknown>) => ({ ...emptyMemberState('m'), traits });

describe('marketing opt-out', () => {
  it('takes the yes values shops send, and nothing else', () => {
    for (const yes of [true, 1, 'true', 'TRUE', ' yes ', 'Y', '1', 'on']) expect(isYes(yes), JSON.stringify(yes)).toBe(true);
    for (const no of [false, 0, 2, 'false', 'no', 'n', '0', 'off', '', null, undefined, {}, ['yes']]) expect(isYes(no), JSON.stringify(no)).toBe(false);
  });

  it('matches the configured trait names in any case and with or without _ - and spaces', () => {
    for (const name of ['marketing_opt_out', 'marketingOptOut', 'Marketing-Opt-Out', 'MARKETING OPT OUT', 'unsubscribed', 'Unsubscribed'])
      expect(optedOut(withTraits({ [name]: 'yes' })), name).toBe(true);
    expect(optedOut(withTraits({ marketing_opt_out: 'no', unsubscribed: false }))).toBe(false);
    expect(optedOut(withTraits({ opt_out_sms: true }))).toBe(false);
    expect(optedOut(withTraits({ opt_out_sms: true }), ['opt-out-sms'])).toBe(true);
    expect(optedOut(withTraits({ marketing_opt_out: true }), ['opt_out_sms'])).toBe(false);
  });

  it("names a channel's opt-out trait after the channel", () => {
    expect(optedOut(withTraits({ wechatOptOut: 'Y' }), [channelOptOutTrait('wechat')])).toBe(true);
    expect(optedOut(withTraits({ email_opt_out: true }), [channelOptOutTrait('wechat')])).toBe(false);
  });
});
