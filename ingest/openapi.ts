/** JSON Schemas for the OpenAPI document at /docs. Validation itself is done by validate.ts, which reports errors per field. */

const json = { type: 'object', additionalProperties: true } as const;
const id = { anyOf: [{ type: 'string' }, { type: 'number' }] } as const;

export const messageSchema = {
  $id: 'SegmentMessage',
  type: 'object',
  description: 'One message of the Segment HTTP Tracking API. Needs userId or anonymousId (alias: previousId and userId; track: event; group: groupId).',
  properties: {
    type: {
      type: 'string',
      enum: ['track', 'identify', 'page', 'screen', 'group', 'alias'],
      description: 'Required inside a batch; implied by the endpoint otherwise',
    },
    messageId: { type: 'string', description: 'Client id of the message, used to drop duplicates. Derived from the content when absent.' },
    userId: id,
    anonymousId: id,
    previousId: { ...id, description: 'alias only' },
    groupId: { ...id, description: 'group only' },
    event: { type: 'string', description: 'track only: the action, e.g. "Order Completed"' },
    name: { type: 'string', description: 'page/screen only' },
    timestamp: { type: 'string', format: 'date-time', description: 'When it happened, by the client clock; corrected with sentAt' },
    sentAt: { type: 'string', format: 'date-time' },
    context: json,
    properties: json,
    traits: json,
    integrations: json,
  },
  additionalProperties: true,
} as const;

export const batchSchema = {
  type: 'object',
  required: ['batch'],
  properties: {
    batch: { type: 'array', items: { $ref: 'SegmentMessage#' }, description: 'Up to INGEST_MAX_BATCH_EVENTS messages' },
    sentAt: { type: 'string', format: 'date-time' },
    context: json,
    integrations: json,
    writeKey: { type: 'string', description: 'Alternative to HTTP Basic authentication' },
  },
} as const;

const rejection = {
  type: 'object',
  properties: {
    index: { type: ['integer', 'null'], description: 'Position in the batch; null for single-message endpoints' },
    field: { type: 'string' },
    reason: { type: 'string', enum: ['missing_field', 'invalid_field', 'invalid_timestamp', 'invalid_money', 'event_too_large'] },
    expected: { type: 'string' },
    received: { type: 'string' },
  },
} as const;

const errorBody = (description: string) => ({
  description,
  type: 'object',
  properties: {
    success: { type: 'boolean' },
    error: { type: 'string' },
    message: { type: 'string' },
    accepted: { type: 'integer', description: 'Events of this request that were stored' },
    rejected: { type: 'array', items: rejection },
  },
});

export const trackingResponses = {
  200: {
    description: 'Every event was stored in Kafka (acknowledged by all in-sync replicas)',
    type: 'object',
    properties: { success: { type: 'boolean' }, accepted: { type: 'integer' } },
  },
  400: errorBody('Some or all events are invalid. The valid ones were stored (accepted); each rejected one is listed with its field'),
  401: errorBody('Missing or unknown write key'),
  413: errorBody('Request, event or batch larger than the limits; nothing was stored'),
  429: errorBody('Too many events waiting for the broker; retry after Retry-After seconds. Nothing was acknowledged'),
  503: errorBody('The broker did not acknowledge in time; retry after Retry-After seconds. Nothing was acknowledged'),
} as const;
