/** A message as a Segment-compatible SDK sends it to the HTTP Tracking API. */
export interface SegmentMessage {
  readonly type: 'track' | 'identify' | 'page' | 'screen' | 'group' | 'alias';
  readonly messageId: string;
  readonly timestamp: string;
  readonly anonymousId?: string;
  readonly userId?: string;
  readonly event?: string;
  readonly name?: string;
  readonly previousId?: string;
  readonly groupId?: string;
  readonly properties?: Readonly<Record<string, unknown>>;
  readonly traits?: Readonly<Record<string, unknown>>;
  readonly context?: Readonly<Record<string, unknown>>;
}

/** One generated message with its event time and the person who (truly) sent it. */
export interface WorkloadEvent {
  /** Event time, epoch ms (the message's timestamp). */
  readonly at: number;
  /** Index of the simulated person: ground truth for identity resolution checks. */
  readonly person: number;
  readonly message: SegmentMessage;
}
