/** Why an event was rejected, per field, as the API reports it. */
export type RejectReason = 'missing_field' | 'invalid_field' | 'invalid_timestamp' | 'invalid_money' | 'event_too_large';

export interface FieldProblem {
  /** Position in the batch; null for single-event endpoints. */
  readonly index: number | null;
  readonly field: string;
  readonly reason: RejectReason;
  readonly expected: string;
  readonly received: string;
}

/** A short, log-safe description of a received value: its JSON (truncated) and its kind. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing (field missing)';
  if (value === null) return 'null';
  const kind = Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return `${text.length > 60 ? `${text.slice(0, 57)}...` : text} (${kind})`;
}
