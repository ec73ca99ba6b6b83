import { err, ok, type Result } from '../lib/result.ts';
import { MESSAGE_TYPES, type MessageType } from '../schemas/records.ts';
import { orderProblems } from './ecommerce.ts';
import { describeValue, type FieldProblem } from './problems.ts';
import { parseIsoTimestamp } from './timestamps.ts';

type JsonObject = Record<string, unknown>;

/** A message that passed validation, with identifiers as strings and objects defaulted. */
export interface AcceptedMessage {
  readonly type: MessageType;
  readonly messageId: string | null;
  readonly userId: string | null;
  readonly anonymousId: string | null;
  readonly previousId: string | null;
  readonly groupId: string | null;
  readonly event: string | null;
  readonly name: string | null;
  /** Client event time (timestamp, else originalTimestamp), epoch ms. */
  readonly originalTimestamp: number | null;
  readonly sentAt: number | null;
  readonly context: JsonObject;
  readonly properties: JsonObject;
  readonly traits: JsonObject;
  readonly integrations: JsonObject;
  /** The message as received, for a content-derived messageId when the client sent none. */
  readonly raw: JsonObject;
}

export interface ValidationLimits {
  readonly maxEventBytes: number;
}

const MAX_ID_LENGTH = 512;
const MAX_NAME_LENGTH = 512;
const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Validates one message of the Segment HTTP Tracking API. `routeType` is the type the
 * endpoint implies (/v1/track ...); in a batch each message names its own type.
 */
export function validateMessage(
  raw: unknown,
  routeType: MessageType | null,
  index: number | null,
  limits: ValidationLimits,
): Result<AcceptedMessage, FieldProblem[]> {
  const prefix = index === null ? '' : `batch[${index}].`;
  const problems: FieldProblem[] = [];
  const problem = (field: string, reason: FieldProblem['reason'], expected: string, value: unknown) =>
    problems.push({ index, field: `${prefix}${field}`, reason, expected, received: describeValue(value) });

  if (!isObject(raw)) {
    problem(index === null ? 'body' : '', 'invalid_field', 'a JSON object (one message)', raw);
    return err(problems);
  }
  const size = Buffer.byteLength(JSON.stringify(raw));
  if (size > limits.maxEventBytes) {
    problems.push({
      index,
      field: index === null ? 'body' : `batch[${index}]`,
      reason: 'event_too_large',
      expected: `at most ${limits.maxEventBytes} bytes per event`,
      received: `${size} bytes`,
    });
    return err(problems);
  }

  const type = routeType ?? raw.type;
  if (typeof type !== 'string' || !(MESSAGE_TYPES as readonly string[]).includes(type)) {
    problem('type', raw.type === undefined ? 'missing_field' : 'invalid_field', `one of ${MESSAGE_TYPES.join(', ')}`, raw.type);
    return err(problems);
  }

  // RudderStack's browser SDK sends "userId": "" with every anonymous event: an empty id
  // next to a valid other id is no id at all (an anonymous event), not an error.
  const usable = (value: unknown) => (typeof value === 'string' && value.trim() !== '') || (typeof value === 'number' && Number.isFinite(value));
  const blank = (value: unknown) => typeof value === 'string' && value.trim() === '';
  const blankBeside = (field: string): boolean =>
    type !== 'alias' &&
    ((field === 'userId' && blank(raw.userId) && usable(raw.anonymousId)) || (field === 'anonymousId' && blank(raw.anonymousId) && usable(raw.userId)));
  const id = (field: string): string | null => {
    const value = raw[field];
    if (blankBeside(field)) return null;
    if (value === undefined || value === null) return null;
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    if (typeof value === 'string' && value.trim() !== '' && value.length <= MAX_ID_LENGTH) return value;
    problem(field, 'invalid_field', `a non-empty string of at most ${MAX_ID_LENGTH} characters`, value);
    return null;
  };
  const text = (field: string): string | null => {
    const value = raw[field];
    if (value === undefined || value === null) return null;
    if (typeof value === 'string' && value.trim() !== '' && value.length <= MAX_NAME_LENGTH) return value;
    problem(field, 'invalid_field', `a non-empty string of at most ${MAX_NAME_LENGTH} characters`, value);
    return null;
  };
  const object = (field: string): JsonObject => {
    const value = raw[field];
    if (value === undefined || value === null) return {};
    if (isObject(value)) return value;
    problem(field, 'invalid_field', 'a JSON object', value);
    return {};
  };
  const time = (field: string): number | null => {
    const value = raw[field];
    if (value === undefined || value === null) return null;
    const ms = typeof value === 'string' ? parseIsoTimestamp(value) : undefined;
    if (ms === undefined) problem(field, 'invalid_timestamp', 'an ISO-8601 date-time with a time zone (e.g. 2026-01-05T10:00:00.000Z)', value);
    return ms ?? null;
  };

  const message: AcceptedMessage = {
    type: type as MessageType,
    messageId: id('messageId'),
    userId: id('userId'),
    anonymousId: id('anonymousId'),
    previousId: id('previousId'),
    groupId: id('groupId'),
    event: text('event'),
    name: text('name'),
    originalTimestamp: time('timestamp') ?? time('originalTimestamp'),
    sentAt: time('sentAt'),
    context: object('context'),
    properties: object('properties'),
    // RudderStack's browser SDK sends identify traits in context.traits only.
    traits: raw.traits === undefined && type === 'identify' && isObject(raw.context) && isObject(raw.context.traits) ? raw.context.traits : object('traits'),
    integrations: object('integrations'),
    raw,
  };

  // Missing, null, or blank beside a blank other id: a field already reported as invalid is not reported again.
  const reported = (field: string) => problems.some((p) => p.field === `${prefix}${field}`);
  const required = (field: keyof AcceptedMessage, expected: string) => {
    if (message[field] === null && !reported(field)) problem(field, 'missing_field', expected, raw[field]);
  };
  if (message.type === 'alias') {
    required('previousId', 'previousId: the identity being linked (alias needs previousId and userId)');
    required('userId', 'userId: the identity previousId is linked to (alias needs previousId and userId)');
  } else if (message.userId === null && message.anonymousId === null && !reported('userId') && !reported('anonymousId')) {
    problem('userId', 'missing_field', 'userId or anonymousId (every message needs one of them)', raw.userId);
  }
  if (message.type === 'track') required('event', 'event: the name of the action (track needs event)');
  if (message.type === 'group') required('groupId', 'groupId: the group or account id (group needs groupId)');
  if (message.type === 'track' && message.event) problems.push(...orderProblems(message.event, message.properties, index, prefix));

  return problems.length > 0 ? err(problems) : ok(message);
}
