/**
 * Event time for a message, corrected for the client's clock the way Segment does:
 * timestamp = receivedAt - (sentAt - originalTimestamp), but only when the skew
 * (receivedAt - sentAt) is beyond a tolerance. The client's clock may be wrong, but the
 * interval between the event and sending it is trusted. Within the tolerance the skew is
 * network delay, not a wrong clock: the client's time stays as it is, so a retry (the
 * same message sent again later, with a new sentAt) keeps the very same event time.
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

export interface TimestampTolerances {
  /** Skew up to this (either way) is taken for network delay and left alone. */
  readonly skewToleranceMs: number;
  /** A corrected time further than this past receivedAt is reset to receivedAt. */
  readonly futureToleranceMs: number;
}

export function correctTimestamp(input: TimestampInput, tolerances: TimestampTolerances): CorrectedTimestamp {
  const { original, sentAt, receivedAt } = input;
  const flags: string[] = [];
  let timestamp = original ?? receivedAt;
  if (original !== null && sentAt !== null && Math.abs(receivedAt - sentAt) > tolerances.skewToleranceMs) {
    timestamp = original + (receivedAt - sentAt);
    flags.push('clock_skew_corrected');
  }
  const { futureToleranceMs } = tolerances;
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
