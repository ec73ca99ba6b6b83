import { createGunzip, createInflate } from 'node:zlib';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, LogController } from 'fastify';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { MESSAGE_TYPES, type MessageType } from '../schemas/records.ts';
import type { IngestMetrics } from './metrics.ts';
import { batchSchema, messageSchema, trackingResponses } from './openapi.ts';
import { type EventPublisher, PublishError } from './publisher.ts';
import { parseTrackingRequest, type RequestLimits } from './request.ts';
import { type WriteKeys, writeKeyFrom } from './write-keys.ts';

export interface IngestServerOptions extends RequestLimits {
  readonly maxRequestBytes: number;
  readonly corsOrigins: string;
}

export interface IngestDependencies {
  readonly options: IngestServerOptions;
  readonly writeKeys: WriteKeys;
  readonly publisher: EventPublisher;
  readonly metrics: IngestMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Whether the broker answers now (for /readyz). */
  readonly brokerReachable: () => Promise<boolean>;
}

function sendError(reply: FastifyReply, status: number, error: string, message: string, extra: Record<string, unknown> = {}) {
  return reply.code(status).send({ success: false, error, message, accepted: 0, ...extra });
}

/** The Segment-compatible tracking API. Builds the server; the caller listens and closes. */
export async function buildIngestServer(deps: IngestDependencies): Promise<FastifyInstance> {
  const { options, writeKeys, publisher, metrics, clock, logger } = deps;
  // Per-request logs would dominate at thousands of requests/s; failures are logged where they happen.
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: options.maxRequestBytes,
    logController: new LogController({ disableRequestLogging: true }),
  });

  await app.register(cors, {
    origin: options.corsOrigins === '*' ? true : options.corsOrigins.split(',').map((o) => o.trim()),
    methods: ['POST', 'GET', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Content-Encoding'],
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
  app.addContentTypeParser(['text/plain', '*'], { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch (error) {
      (error as FastifyError).statusCode = 400;
      done(error as Error, undefined);
    }
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
    if (status >= 400 && status < 500) return sendError(reply, status, 'invalid_json', `body: expected JSON, ${error.message}`);
    logger.error({ err: error.message, route }, 'request failed');
    return sendError(reply, 500, 'internal_error', 'the request could not be processed; nothing was acknowledged');
  });

  const accept = async (route: MessageType | 'batch', url: string, body: unknown, authorization: string | undefined, reply: FastifyReply) => {
    const respond = (status: number, payload: Record<string, unknown>, headers: Record<string, string> = {}) => {
      metrics.requests.inc({ route: url, status });
      return reply.code(status).headers(headers).send(payload);
    };
    const key = writeKeyFrom(authorization, body);
    const source = key === undefined ? undefined : writeKeys.sourceOf(key);
    if (key === undefined) {
      return respond(401, {
        success: false,
        error: 'unauthorized',
        message: 'write key: expected HTTP Basic authentication with the write key as user name (or writeKey in the body), received none',
        accepted: 0,
      });
    }
    if (source === undefined)
      return respond(401, {
        success: false,
        error: 'unauthorized',
        message: 'write key: expected a key this server knows, received an unknown one',
        accepted: 0,
      });

    const parsed = parseTrackingRequest(body, route, source, clock.now(), options);
    if (!parsed.ok) {
      metrics.eventsRejected.inc(
        { reason: parsed.error.error },
        route === 'batch' && Array.isArray((body as { batch?: unknown[] }).batch) ? (body as { batch: unknown[] }).batch.length : 1,
      );
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
    if (problems.length > 0) {
      const message = `${problems.length} problem(s) in ${new Set(problems.map((p) => p.index)).size} event(s); the other ${records.length} event(s) were stored`;
      return respond(400, { success: false, error: 'invalid_events', message, accepted: records.length, rejected: problems });
    }
    return respond(200, { success: true, accepted: records.length });
  };

  const routes: [MessageType | 'batch', string][] = [
    ...MESSAGE_TYPES.map((t) => [t, `/v1/${t}`] as [MessageType, string]),
    ['batch', '/v1/batch'],
    ['batch', '/v1/import'],
  ];
  for (const [route, url] of routes) {
    app.post(url, {
      schema: {
        summary: route === 'batch' ? 'Send up to 2,500 messages of any type' : `Send one ${route} message`,
        tags: ['tracking'],
        body: route === 'batch' ? batchSchema : { $ref: 'SegmentMessage#' },
        response: trackingResponses,
      },
      // validate.ts checks bodies and names each bad field; the schemas are for the docs.
      validatorCompiler: () => () => true,
      handler: (request, reply) => accept(route, url, request.body, request.headers.authorization, reply),
    });
  }

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
