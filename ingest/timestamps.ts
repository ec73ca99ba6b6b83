/**
 * Event time for a message, corrected for the client's clock the way Segment does:
 * timestamp = receivedAt - (sentAt - originalTimestamp). The client's clock may be wrong,
 * but the interval between the event and sending it is trusted.
 */
export interface TimestampInput {
  /** When the event happened, by the client's clock (message timestamp or originalTimestamp). */
  readonly original: number | null;
  /** When the client sent the request, by its clock (message or batch sentAt). */
  readonly sentAt: number | null;
  /** When the server received the request. */
  readonly receivedAt: number;
}

export interface CorrectedTimestamp {
  readonly timestamp: number;
  readonly flags: readonly string[];
}

/** Skew larger than this is flagged on the event (`clock_skew_corrected`). */
export const SKEW_FLAG_THRESHOLD_MS = 60_000;

export function correctTimestamp(input: TimestampInput, futureToleranceMs: number): CorrectedTimestamp {
  const { original, sentAt, receivedAt } = input;
  const flags: string[] = [];
  let timestamp = original ?? receivedAt;
  if (original !== null && sentAt !== null) {
    const skew = receivedAt - sentAt;
    timestamp = original + skew;
    if (Math.abs(skew) > SKEW_FLAG_THRESHOLD_MS) flags.push('clock_skew_corrected');
  }
  if (timestamp > receivedAt + futureToleranceMs) {
    timestamp = receivedAt;
    flags.push('timestamp_in_future');
  }
  return { timestamp, flags };
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/** Epoch ms of an ISO-8601 date-time with a zone, or undefined when the text is not one. */
export function parseIsoTimestamp(text: string): number | undefined {
  if (!ISO_8601.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}
