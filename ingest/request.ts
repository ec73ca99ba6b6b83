import type { KeyedRecord } from '../lib/kafka/topic-producer.ts';
import { err, ok, type Result } from '../lib/result.ts';
import type { EventRecord, MessageType } from '../schemas/records.ts';
import { eventsTopicKey } from '../schemas/topics.ts';
import { toEventRecord } from './normalize.ts';
import { describeValue, type FieldProblem } from './problems.ts';
import { parseIsoTimestamp, type TimestampTolerances } from './timestamps.ts';
import { validateMessage } from './validate.ts';

export interface RequestLimits {
  readonly maxEventBytes: number;
  readonly maxBatchEvents: number;
  readonly timeTolerances: TimestampTolerances;
}

export interface ParsedRequest {
  readonly records: KeyedRecord<EventRecord>[];
  readonly problems: FieldProblem[];
  readonly received: number;
}

/** The request as a whole cannot be taken (nothing in it is stored). */
export interface RequestRejection {
  readonly status: 400 | 413;
  readonly error: string;
  readonly message: string;
  readonly problems: FieldProblem[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function rejectWhole(status: 400 | 413, error: string, field: string, expected: string, value: unknown): Result<never, RequestRejection> {
  const problem: FieldProblem = { index: null, field, reason: 'invalid_field', expected, received: describeValue(value) };
  return err({ status, error, message: `${field}: expected ${expected}, received ${problem.received}`, problems: [problem] });
}

/**
 * Turns one request of the Segment HTTP Tracking API into event records. Invalid
 * messages of a batch are reported in `problems` while the valid ones are kept
 * (docs/ingest.md explains why); a problem with the request as a whole rejects it all.
 */
export function parseTrackingRequest(
  body: unknown,
  route: MessageType | 'batch',
  source: string,
  receivedAt: number,
  limits: RequestLimits,
): Result<ParsedRequest, RequestRejection> {
  if (!isObject(body)) return rejectWhole(400, 'invalid_body', 'body', 'a JSON object', body);
  const requestSentAtRaw = route === 'batch' ? body.sentAt : undefined;
  let requestSentAt: number | null = null;
  if (requestSentAtRaw !== undefined && requestSentAtRaw !== null) {
    requestSentAt = typeof requestSentAtRaw === 'string' ? (parseIsoTimestamp(requestSentAtRaw) ?? null) : null;
    if (requestSentAt === null) return rejectWhole(400, 'invalid_body', 'sentAt', 'an ISO-8601 date-time with a time zone', requestSentAtRaw);
  }
  let messages: unknown[];
  let requestContext: Record<string, unknown> = {};
  let requestIntegrations: Record<string, unknown> = {};
  if (route === 'batch') {
    if (!Array.isArray(body.batch)) return rejectWhole(400, 'invalid_body', 'batch', 'an array of messages', body.batch);
    if (body.batch.length === 0) return rejectWhole(400, 'invalid_body', 'batch', 'at least one message', body.batch);
    if (body.batch.length > limits.maxBatchEvents) {
      return rejectWhole(413, 'batch_too_large', 'batch', `at most ${limits.maxBatchEvents} messages per request`, `${body.batch.length} messages`);
    }
    if (body.context !== undefined && !isObject(body.context)) return rejectWhole(400, 'invalid_body', 'context', 'a JSON object', body.context);
    if (body.integrations !== undefined && !isObject(body.integrations))
      return rejectWhole(400, 'invalid_body', 'integrations', 'a JSON object', body.integrations);
    messages = body.batch;
    requestContext = (body.context as Record<string, unknown> | undefined) ?? {};
    requestIntegrations = (body.integrations as Record<string, unknown> | undefined) ?? {};
  } else {
    messages = [body];
  }

  const receive = { receivedAt, requestSentAt, source, timeTolerances: limits.timeTolerances, requestContext, requestIntegrations };
  const records: KeyedRecord<EventRecord>[] = [];
  const problems: FieldProblem[] = [];
  messages.forEach((raw, i) => {
    const validated = validateMessage(raw, route === 'batch' ? null : route, route === 'batch' ? i : null, limits);
    if (!validated.ok) {
      problems.push(...validated.error);
      return;
    }
    // The record's time is the receive time: the processors merge partitions by it.
    records.push({ key: eventsTopicKey(validated.value), value: toEventRecord(validated.value, receive), timestamp: receivedAt });
  });
  if (route !== 'batch' && problems.some((p) => p.reason === 'event_too_large')) {
    return err({
      status: 413,
      error: 'event_too_large',
      message: `${problems[0]?.field}: expected ${problems[0]?.expected}, received ${problems[0]?.received}`,
      problems,
    });
  }
  return ok({ records, problems, received: messages.length });
}
