import { parsePersonalFields } from '../domain/privacy/personal-data.ts';
import { hmacVars, kafkaVars, loggingVars, operationsVars, topicVars } from '../lib/config/common.ts';
import { defineConfig } from '../lib/config/load.ts';
import { custom, int, str, url } from '../lib/config/variables.ts';
import { DEFAULT_ORDER_MAPPING_JSON, ORDER_MAPPING_FORMAT, parseOrderMapping } from './sensors/order-mapping.ts';
import { SensorsProjects } from './sensors/projects.ts';
import { WriteKeyOrigins } from './write-key-origins.ts';
import { WriteKeys } from './write-keys.ts';

export const ingestConfigSchema = defineConfig('ingest', {
  ...loggingVars,
  ...operationsVars,
  ...kafkaVars,
  ...topicVars,
  ...hmacVars,
  INGEST_PERSONAL_FIELDS: custom(
    'Field names that hold personal data besides the built-in ones (phone, email, OpenID, UnionID, ID card; docs/privacy.md): their values are stored only as keyed hashes',
    'a semicolon-separated list of kind=pattern, each pattern a regular expression over field names in lower case without _ - . or spaces (e.g. member_card=^(membercard|会员卡号)$)',
    parsePersonalFields,
  ).optional(),
  INGEST_HOST: str('Address the ingest HTTP server listens on').default('0.0.0.0'),
  INGEST_PORT: int('Port of the ingest HTTP server', { min: 0, max: 65535 }).default(8080),
  INGEST_WRITE_KEYS: custom('Write keys and the source each belongs to', 'a comma-separated list of key=source (e.g. wk_web=web,wk_ios=ios)', WriteKeys.parse)
    .secret()
    .required(),
  INGEST_WRITE_KEY_ORIGINS: custom(
    'Browser origins each write key may be sent from (403 from any other Origin; requests without an Origin, and keys not listed, are not checked)',
    'a comma-separated list of key=origin|origin (e.g. wk_web=https://shop.example|https://m.shop.example)',
    WriteKeyOrigins.parse,
  )
    .secret()
    .optional(),
  INGEST_SENSORS_PROJECTS: custom(
    'Sensors Data projects /sa takes and the source each belongs to; a token, when given, must be in the SDK server_url (&token=...)',
    'a comma-separated list of project=source or project:token=source (e.g. default=web_cn,shop_mp:s3cret=miniprogram)',
    SensorsProjects.parse,
  )
    .secret()
    .optional(),
  INGEST_SENSORS_ORDER_EVENTS: custom(
    "Sensors events that are orders, mapped to segstream's Order Completed / Order Refunded (order id and amount properties)",
    ORDER_MAPPING_FORMAT,
    parseOrderMapping,
  ).default(parseOrderMapping(DEFAULT_ORDER_MAPPING_JSON) as NonNullable<ReturnType<typeof parseOrderMapping>>),
  INGEST_PUBLIC_URL: url("The URL SDKs reach ingest at, written into the Segment settings it serves; when unset, taken from each request's Host", [
    'http:',
    'https:',
  ]).optional(),
  INGEST_MAX_REQUEST_BYTES: int('Largest request body, after decompression', { min: 1_024 }).default(512_000),
  INGEST_REQUEST_TIMEOUT_MS: int(
    'Longest time a request may take to arrive whole (headers and body): a slower one is answered 408 and its connection closed, so slow senders cannot hold connections open',
    { min: 1_000 },
  ).default(30_000),
  INGEST_MAX_EVENT_BYTES: int('Largest single event (its JSON)', { min: 256 }).default(32_768),
  INGEST_MAX_BATCH_EVENTS: int('Most events in one batch request', { min: 1 }).default(2_500),
  INGEST_FUTURE_TOLERANCE_MS: int('How far past the server clock a corrected timestamp may be before it is reset to receivedAt and flagged', {
    min: 0,
  }).default(300_000),
  INGEST_CLOCK_SKEW_TOLERANCE_MS: int(
    "How far a client's sentAt may be from the server clock and still count as network delay: a timestamp is corrected for the client clock (and flagged) only beyond it, so a retry keeps its event time",
    { min: 0 },
  ).default(30_000),
  INGEST_PRODUCE_TIMEOUT_MS: int('How long a request waits for the broker to acknowledge before answering 503', { min: 100 }).default(10_000),
  INGEST_MAX_PENDING_EVENTS: int('Events waiting for the broker above which requests get 429', { min: 1 }).default(100_000),
  INGEST_CORS_ORIGINS: str('Origins browsers may send from: * or a comma-separated list').default('*'),
  SHUTDOWN_TIMEOUT_MS: int('How long each component may take to drain and stop', { min: 100 }).default(15_000),
});
