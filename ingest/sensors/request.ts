import type { KeyedRecord } from '../../lib/kafka/topic-producer.ts';
import { err, ok, type Result } from '../../lib/result.ts';
import type { EventRecord } from '../../schemas/records.ts';
import { eventsTopicKey } from '../../schemas/topics.ts';
import { toEventRecord } from '../normalize.ts';
import type { FieldProblem } from '../problems.ts';
import type { ParsedRequest, RequestLimits, RequestRejection } from '../request.ts';
import { validateMessage } from '../validate.ts';
import type { DecodedPayload } from './decode.ts';
import { mapSensorsRecord, type SensorsMapContext } from './map.ts';

/** A field of a mapped message ("batch[2].userId", "body") as a field of the Sensors record ("data_list[2].userId", "data"). */
function placeIn(prefix: string, field: string): string {
  const inner = field.replace(/^batch\[\d+\]\.?/, '').replace(/^body$/, '');
  return inner === '' ? prefix.slice(0, -1) : `${prefix}${inner}`;
}

export interface ParsedSensorsRequest extends ParsedRequest {
  /** Records acknowledged without being stored (item events), by reason. */
  readonly skipped: readonly string[];
}

/**
 * Turns a decoded Sensors request into event records, as parseTrackingRequest does for
 * the Segment API: invalid records are listed (by index and Sensors field) while the
 * valid ones are kept; a problem with the request as a whole rejects it all.
 */
export function parseSensorsRequest(
  payload: DecodedPayload,
  ctx: SensorsMapContext,
  receivedAt: number,
  limits: RequestLimits,
): Result<ParsedSensorsRequest, RequestRejection> {
  const { records: input, field } = payload;
  if (input.length > limits.maxBatchEvents) {
    const problem: FieldProblem = {
      index: null,
      field,
      reason: 'invalid_field',
      expected: `at most ${limits.maxBatchEvents} records per request`,
      received: `${input.length} records`,
    };
    return err({ status: 413, error: 'batch_too_large', message: `${field}: expected ${problem.expected}, received ${problem.received}`, problems: [problem] });
  }
  const single = field === 'data' && input.length === 1;
  const receive = { receivedAt, requestSentAt: null, source: ctx.source, timeTolerances: limits.timeTolerances, requestContext: {}, requestIntegrations: {} };
  const records: KeyedRecord<EventRecord>[] = [];
  const problems: FieldProblem[] = [];
  const skipped: string[] = [];
  input.forEach((raw, i) => {
    const index = single ? null : i;
    const prefix = single ? 'data.' : `${field}[${i}].`;
    const mapped = mapSensorsRecord(raw, index, prefix, ctx);
    if (mapped.kind === 'invalid') {
      problems.push(...mapped.problems);
      return;
    }
    if (mapped.kind === 'skipped') {
      skipped.push(mapped.reason);
      return;
    }
    const accepted = [];
    for (const message of mapped.messages) {
      const validated = validateMessage(message, null, index, limits);
      if (!validated.ok) {
        // Fields are named as the mapped message has them; place them in the Sensors record.
        problems.push(...validated.error.map((p) => ({ ...p, field: placeIn(prefix, p.field) })));
        return;
      }
      accepted.push(validated.value);
    }
    // The record's time is the receive time: the processors merge partitions by it.
    for (const message of accepted) records.push({ key: eventsTopicKey(message), value: toEventRecord(message, receive), timestamp: receivedAt });
  });
  if (single && problems.some((p) => p.reason === 'event_too_large')) {
    return err({
      status: 413,
      error: 'event_too_large',
      message: `${problems[0]?.field}: expected ${problems[0]?.expected}, received ${problems[0]?.received}`,
      problems,
    });
  }
  return ok({ records, problems, received: input.length, skipped });
}
