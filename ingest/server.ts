import { createGunzip, createInflate } from 'node:zlib';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, LogController } from 'fastify';
import type { Clock } from '../lib/clock.ts';
import { protectOperations } from '../lib/http/operations-guard.ts';
import type { Logger } from '../lib/logger.ts';
import type { Result } from '../lib/result.ts';
import { MESSAGE_TYPES, type MessageType } from '../schemas/records.ts';
import { MAX_JSON_NESTING, nestedDeeperThan } from './json-nesting.ts';
import type { IngestMetrics } from './metrics.ts';
import { batchSchema, messageSchema, trackingResponses } from './openapi.ts';
import { type EventPublisher, PublishError } from './publisher.ts';
import { type ParsedRequest, parseTrackingRequest, type RequestLimits, type RequestRejection } from './request.ts';
import { publicBase, rudderSourceConfig, segmentSettings } from './sdk-config.ts';
import { decodeSensorsPayload, parseSensorsParams } from './sensors/decode.ts';
import type { OrderMapping } from './sensors/order-mapping.ts';
import type { SensorsProjects } from './sensors/projects.ts';
import { parseSensorsRequest } from './sensors/request.ts';
import type { WriteKeyOrigins } from './write-key-origins.ts';
import { type WriteKeys, writeKeyFrom } from './write-keys.ts';

export interface IngestServerOptions extends RequestLimits {
  readonly maxRequestBytes: number;
  /** Longest time a request may take to arrive whole (INGEST_REQUEST_TIMEOUT_MS). */
  readonly requestTimeoutMs: number;
  /** OPERATIONS_TOKENS: /metrics and /docs then require one. */
  readonly operationsTokens?: readonly string[] | undefined;
  readonly corsOrigins: string;
  /** Where SDKs reach this service (INGEST_PUBLIC_URL), for the Segment settings document; else each request's Host. */
  readonly publicUrl?: string | undefined;
}

export interface IngestDependencies {
  readonly options: IngestServerOptions;
  readonly writeKeys: WriteKeys;
  /** Browser origins per write key (INGEST_WRITE_KEY_ORIGINS). */
  readonly writeKeyOrigins: WriteKeyOrigins;
  /** Sensors Data projects the /sa endpoint takes (none: it refuses every project). */
  readonly sensorsProjects: SensorsProjects;
  readonly sensorsOrders: OrderMapping;
  readonly publisher: EventPublisher;
  readonly metrics: IngestMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Whether the broker answers now (for /readyz). */
  readonly brokerReachable: () => Promise<boolean>;
}

/** The 1x1 transparent GIF an image request (Sensors' default transport) gets back. */
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

function sendError(reply: FastifyReply, status: number, error: string, message: string, extra: Record<string, unknown> = {}) {
  return reply.code(status).send({ success: false, error, message, accepted: 0, ...extra });
}

/** The Segment-compatible tracking API. Builds the server; the caller listens and closes. */
export async function buildIngestServer(deps: IngestDependencies): Promise<FastifyInstance> {
  const { options, writeKeys, writeKeyOrigins, publisher, metrics, clock, logger } = deps;
  // Per-request logs would dominate at thousands of requests/s; failures are logged where they happen.
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: options.maxRequestBytes,
    // Node answers 408 to a request not whole within it; its check runs every
    // connectionsCheckingInterval (30 s by default, too coarse for the limit to hold).
    requestTimeout: options.requestTimeoutMs,
    http: {
      headersTimeout: Math.min(60_000, options.requestTimeoutMs),
      connectionsCheckingInterval: Math.min(1_000, options.requestTimeoutMs),
    },
    logController: new LogController({ disableRequestLogging: true }),
  });
  protectOperations(app, options.operationsTokens);

  await app.register(cors, {
    origin: options.corsOrigins === '*' ? true : options.corsOrigins.split(',').map((o) => o.trim()),
    methods: ['POST', 'GET', 'OPTIONS'],
    // What the browser SDKs send: analytics-next adds X-Retry-Count on retries; RudderStack
    // v3 sends AnonymousId and SentAt with every event and Rsa-* on recovered or retried ones.
    allowedHeaders: [
      'Authorization',
      'Content-Type',
      'Content-Encoding',
      'X-Retry-Count',
      'AnonymousId',
      'SentAt',
      'Rsa-Recovered',
      'Rsa-Retry-Attempt',
      'Rsa-Retry-Reason',
      'Rsa-Since-Last-Attempt',
      'Rsa-Since-First-Attempt',
    ],
    maxAge: 86_400,
  });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'segstream ingest',
        version: '1',
        description: 'Segment HTTP Tracking API: existing Segment- and RudderStack-compatible SDKs send here unchanged.',
      },
      components: {
        securitySchemes: { writeKey: { type: 'http', scheme: 'basic', description: 'The write key as user name, empty password (as Segment SDKs send it)' } },
      },
      security: [{ writeKey: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.addSchema(messageSchema);

  // Compressed bodies: the size limit applies to the decompressed bytes, which also stops zip bombs.
  app.addHook('preParsing', async (request, reply, payload) => {
    const encoding = (request.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding === 'gzip' || encoding === 'deflate') {
      const decompressed = Object.assign(encoding === 'gzip' ? createGunzip() : createInflate(), { receivedEncodedLength: 0 });
      // Fastify compares Content-Length with the bytes on the wire, counted here.
      payload.on('data', (chunk: Buffer) => {
        decompressed.receivedEncodedLength += chunk.length;
      });
      return payload.pipe(decompressed);
    }
    if (encoding !== 'identity') {
      await sendError(reply, 415, 'unsupported_encoding', `Content-Encoding: expected gzip, deflate or none, received "${encoding}"`);
    }
    return payload;
  });
  // The body is JSON whatever the Content-Type says: browser SDKs post text/plain to avoid
  // a CORS preflight, and RudderStack's Node SDK sends gzip bodies without a Content-Type.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(['application/json', 'text/plain', '*'], { parseAs: 'string' }, (request, body, done) => {
    // A path ingest does not serve is a 404 whatever its body holds.
    if (request.is404) {
      done(null, undefined);
      return;
    }
    if (nestedDeeperThan(body as string, MAX_JSON_NESTING)) {
      done(
        Object.assign(new Error(`request body: expected JSON nested at most ${MAX_JSON_NESTING} levels deep, received deeper nesting`), {
          statusCode: 400,
          code: 'TOO_DEEPLY_NESTED',
        }),
        undefined,
      );
      return;
    }
    try {
      done(null, JSON.parse(body as string));
    } catch (error) {
      (error as FastifyError).statusCode = 400;
      done(error as Error, undefined);
    }
  });
  app.setNotFoundHandler((request, reply) => {
    metrics.requests.inc({ route: 'unknown', status: 404 });
    return sendError(reply, 404, 'not_found', `${request.method} ${request.url.split('?')[0]}: no such endpoint (see /docs for the ones ingest serves)`);
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode ?? 500;
    const route = request.routeOptions.url ?? 'unknown';
    metrics.requests.inc({ route, status });
    if (status === 413 || error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendError(reply, 413, 'payload_too_large', `request body: expected at most ${options.maxRequestBytes} bytes (after decompression), received more`);
    }
    if (status === 415)
      return sendError(
        reply,
        415,
        'unsupported_media_type',
        `Content-Type: expected application/json (or text/plain holding JSON), received "${request.headers['content-type'] ?? 'none'}"`,
      );
    if (error.code === 'TOO_DEEPLY_NESTED') return sendError(reply, 400, 'too_deeply_nested', error.message);
    if (status >= 400 && status < 500) return sendError(reply, status, 'invalid_json', `body: expected JSON, ${error.message}`);
    logger.error({ err: error.message, route }, 'request failed');
    return sendError(reply, 500, 'internal_error', 'the request could not be processed; nothing was acknowledged');
  });

  const respondWith =
    (url: string, reply: FastifyReply) =>
    (status: number, payload: Record<string, unknown>, headers: Record<string, string> = {}) => {
      metrics.requests.inc({ route: url, status });
      return reply.code(status).headers(headers).send(payload);
    };

  /** Stores what a request parsed into and answers: the one path every tracking endpoint ends in. */
  const store = async (
    url: string,
    source: string,
    parsed: Result<ParsedRequest & { readonly skipped?: readonly string[] }, RequestRejection>,
    received: number,
    reply: FastifyReply,
    onSuccess?: (accepted: number) => FastifyReply,
  ) => {
    const respond = respondWith(url, reply);
    if (!parsed.ok) {
      metrics.eventsRejected.inc({ reason: parsed.error.error }, received);
      return respond(parsed.error.status, {
        success: false,
        error: parsed.error.error,
        message: parsed.error.message,
        accepted: 0,
        rejected: parsed.error.problems,
      });
    }
    const { records, problems } = parsed.value;
    try {
      await publisher.publish(records);
    } catch (error) {
      if (!(error instanceof PublishError)) throw error;
      if (error.kind === 'unavailable') metrics.brokerErrors.inc();
      const status = error.kind === 'overloaded' ? 429 : 503;
      return respond(
        status,
        { success: false, error: error.kind, message: `${error.message}; nothing in this request was acknowledged, retry it`, accepted: 0 },
        { 'Retry-After': String(error.retryAfterSeconds) },
      );
    }
    for (const record of records) metrics.eventsAccepted.inc({ type: record.value.type, source });
    for (const problem of problems) metrics.eventsRejected.inc({ reason: problem.reason });
    for (const reason of parsed.value.skipped ?? []) metrics.eventsSkipped.inc({ reason });
    if (problems.length > 0) {
      const message = `${problems.length} problem(s) in ${new Set(problems.map((p) => p.index)).size} event(s); the other ${records.length} event(s) were stored`;
      return respond(400, { success: false, error: 'invalid_events', message, accepted: records.length, rejected: problems });
    }
    if (onSuccess) {
      metrics.requests.inc({ route: url, status: 200 });
      return onSuccess(records.length);
    }
    return respond(200, { success: true, accepted: records.length });
  };

  /** The source a write key belongs to, or the 401 (or 403, from an origin the key is not for) already sent. */
  const sourceFor = (key: string | undefined, respond: ReturnType<typeof respondWith>, origin?: string): string | FastifyReply => {
    if (key === undefined) {
      return respond(401, {
        success: false,
        error: 'unauthorized',
        message: 'write key: expected HTTP Basic authentication with the write key as user name (or writeKey in the body), received none',
        accepted: 0,
      });
    }
    const source = writeKeys.sourceOf(key);
    if (source === undefined)
      return respond(401, {
        success: false,
        error: 'unauthorized',
        message: 'write key: expected a key this server knows, received an unknown one',
        accepted: 0,
      });
    if (!writeKeyOrigins.allows(key, origin))
      return respond(403, {
        success: false,
        error: 'origin_not_allowed',
        message: `Origin: expected one of the origins this write key is for (INGEST_WRITE_KEY_ORIGINS), received ${JSON.stringify(origin)}`,
        accepted: 0,
      });
    return source;
  };

  const accept = async (
    route: MessageType | 'batch',
    url: string,
    body: unknown,
    authorization: string | undefined,
    queryKey: unknown,
    origin: string | undefined,
    reply: FastifyReply,
  ) => {
    const source = sourceFor(writeKeyFrom(authorization, body, queryKey), respondWith(url, reply), origin);
    if (typeof source !== 'string') return source;
    const received = route === 'batch' && Array.isArray((body as { batch?: unknown[] } | null)?.batch) ? (body as { batch: unknown[] }).batch.length : 1;
    return store(url, source, parseTrackingRequest(body, route, source, clock.now(), options), received, reply);
  };
  // Segment's long routes, the one-letter routes analytics-next posts to (`/v1/${type[0]}`,
  // `/v1/b` when batching; mobile SDKs batch to `/v1/b` too), /v1/import, and RudderStack's
  // beacon route (the write key in its query string).
  const routes: [MessageType | 'batch', string, string][] = [
    ...MESSAGE_TYPES.map((t) => [t, `/v1/${t}`, `Send one ${t} message`] as [MessageType, string, string]),
    ...MESSAGE_TYPES.map((t) => [t, `/v1/${t.charAt(0)}`, `Send one ${t} message (analytics.js's short route)`] as [MessageType, string, string]),
    ['batch', '/v1/batch', 'Send up to 2,500 messages of any type'],
    ['batch', '/v1/b', 'Send a batch (the route analytics.js and the Segment mobile SDKs batch to)'],
    ['batch', '/v1/import', 'Send a batch (historical import)'],
    ['batch', '/beacon/v1/batch', "Send a batch by navigator.sendBeacon (RudderStack's beacon transport; ?writeKey= in the query)"],
  ];
  for (const [route, url, summary] of routes) {
    app.post(url, {
      schema: {
        summary,
        tags: ['tracking'],
        body: route === 'batch' ? batchSchema : { $ref: 'SegmentMessage#' },
        querystring: { type: 'object', properties: { writeKey: { type: 'string', description: 'The write key, when no Authorization header can be sent' } } },
        response: trackingResponses,
      },
      // validate.ts checks bodies and names each bad field; the schemas are for the docs.
      validatorCompiler: () => () => true,
      handler: (request, reply) =>
        accept(route, url, request.body, request.headers.authorization, (request.query as { writeKey?: unknown }).writeKey, request.headers.origin, reply),
    });
  }

  // The configuration documents browser SDKs ask for before they send anything.
  app.get<{ Params: { writeKey: string } }>(
    '/v1/projects/:writeKey/settings',
    {
      schema: {
        summary: "Segment analytics.js settings for a write key (point the SDK's cdnURL, or the snippet's analytics._cdn, at ingest)",
        tags: ['sdk configuration'],
        params: { type: 'object', properties: { writeKey: { type: 'string' } } },
      },
    },
    async (request, reply) => {
      const url = '/v1/projects/:writeKey/settings';
      if (writeKeys.sourceOf(request.params.writeKey) === undefined) {
        metrics.requests.inc({ route: url, status: 404 });
        return sendError(reply, 404, 'unknown_write_key', 'writeKey: expected a write key this server knows, received an unknown one');
      }
      metrics.requests.inc({ route: url, status: 200 });
      return reply.header('cache-control', 'public, max-age=300').send(segmentSettings(request.params.writeKey, publicBase(options.publicUrl, request)));
    },
  );
  for (const url of ['/sourceConfig', '/sourceConfig/']) {
    app.get(
      url,
      {
        schema: {
          summary: "RudderStack source configuration for a write key (?writeKey= or HTTP Basic; point the v3 SDK's configUrl at ingest)",
          tags: ['sdk configuration'],
          querystring: { type: 'object', properties: { writeKey: { type: 'string' } } },
        },
      },
      async (request, reply) => {
        const respond = respondWith('/sourceConfig', reply);
        const source = sourceFor(writeKeyFrom(request.headers.authorization, undefined, (request.query as { writeKey?: unknown }).writeKey), respond);
        if (typeof source !== 'string') return source;
        return respond(200, rudderSourceConfig(source));
      },
    );
  }

  // Sensors Data: its SDKs send form or text bodies (and GET query strings), not JSON.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    const sensors = async (url: string, query: string, body: string, userAgent: string | undefined, reply: FastifyReply, gif: boolean) => {
      const respond = respondWith(url, reply);
      const fromQuery = parseSensorsParams(query);
      const fromBody = parseSensorsParams(body);
      const params = { ...fromQuery, ...fromBody, project: fromQuery.project ?? fromBody.project, token: fromQuery.token ?? fromBody.token };
      const auth = deps.sensorsProjects.authenticate(params.project, params.token);
      if (!auth.ok) return respond(401, { success: false, error: 'unauthorized', message: auth.message, accepted: 0 });
      const decoded = decodeSensorsPayload(params, options.maxRequestBytes);
      const parsed = decoded.ok
        ? parseSensorsRequest(
            decoded.value,
            { project: auth.project, source: auth.source, userAgent: userAgent ?? null, orders: deps.sensorsOrders },
            clock.now(),
            options,
          )
        : decoded;
      const received = decoded.ok ? decoded.value.records.length : 1;
      return store(
        url,
        auth.source,
        parsed,
        received,
        reply,
        gif ? () => reply.code(200).type('image/gif').header('cache-control', 'no-store').send(PIXEL) : undefined,
      );
    };
    const sensorsSchema = (method: string) => ({
      summary:
        method === 'GET'
          ? "Sensors Data collection by image request: data (base64 JSON), ext=crc=..., project, token in the query string (sa-sdk-javascript's default); answers a 1x1 GIF"
          : 'Sensors Data collection: a form or text body with data or data_list (base64 JSON, gzip=1 for gzip), ext=crc=...; project and token in the query string',
      tags: ['sensors data'],
      querystring: {
        type: 'object',
        properties: {
          project: { type: 'string', description: 'The Sensors project (default: "default"), one of INGEST_SENSORS_PROJECTS' },
          token: { type: 'string', description: 'The token configured for the project, if any' },
          data: { type: 'string' },
          data_list: { type: 'string' },
          gzip: { type: 'string', enum: ['0', '1'] },
          ext: { type: 'string' },
        },
      },
    });
    const queryOf = (url: string) => (url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
    for (const url of ['/sa', '/sa.gif']) {
      scope.get(url, { schema: sensorsSchema('GET'), validatorCompiler: () => () => true }, (request, reply) =>
        sensors(url, queryOf(request.url), '', request.headers['user-agent'], reply, true),
      );
      scope.post(url, { schema: sensorsSchema('POST'), validatorCompiler: () => () => true }, (request, reply) =>
        sensors(url, queryOf(request.url), typeof request.body === 'string' ? request.body : '', request.headers['user-agent'], reply, false),
      );
    }
  });

  app.get('/healthz', { schema: { summary: 'The process is up', tags: ['operations'] } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { summary: 'The broker is reachable', tags: ['operations'] } }, async (_request, reply) => {
    const ready = await deps.brokerReachable();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'broker unreachable' });
  });
  app.get('/metrics', { schema: { summary: 'Prometheus metrics', tags: ['operations'] } }, async (_request, reply) => {
    metrics.pendingEvents.set(publisher.pending);
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  return app;
}
