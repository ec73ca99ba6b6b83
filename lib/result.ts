/** A value or an error, returned instead of thrown where failure is an expected outcome. */
export type Result<T, E = Error> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

export function ok<T>(value: T): Result<T, never> {
  return { ok: true, value };
}

export function err<E>(error: E): Result<never, E> {
  return { ok: false, error };
}

/**
 * What a processing step decided for one record. Offsets advance past `ok`, `drop` and
 * `dlq` (once the dead-letter record is safely written); `retry` stops the partition
 * so the record is processed again.
 */
export type StepOutcome<T = void> =
  | { readonly kind: 'ok'; readonly value: T }
  | { readonly kind: 'drop'; readonly reason: string }
  | { readonly kind: 'dlq'; readonly reason: string; readonly detail: string }
  | { readonly kind: 'retry'; readonly reason: string; readonly afterMs: number };

export const step = {
  ok<T>(value: T): StepOutcome<T> {
    return { kind: 'ok', value };
  },
  drop(reason: string): StepOutcome<never> {
    return { kind: 'drop', reason };
  },
  dlq(reason: string, detail: string): StepOutcome<never> {
    return { kind: 'dlq', reason, detail };
  },
  retry(reason: string, afterMs: number): StepOutcome<never> {
    return { kind: 'retry', reason, afterMs };
  },
} as const;
