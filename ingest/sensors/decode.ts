import { gunzipSync } from 'node:zlib';
import { err, ok, type Result } from '../../lib/result.ts';
import { MAX_JSON_NESTING, nestedDeeperThan } from '../json-nesting.ts';
import { describeValue, type FieldProblem } from '../problems.ts';
import type { RequestRejection } from '../request.ts';

/**
 * The Sensors Data collection protocol (`/sa`, `/sa.gif`), as its SDKs send it:
 *   - sa-sdk-javascript: `data=<base64 JSON>&ext=crc%3D<hash>` in the query string of an
 *     image GET (its default), or as the body of a form POST (`send_type: 'ajax'`) or a
 *     text/plain beacon; `data_list=<base64 JSON array>` when batching;
 *   - sa-sdk-miniprogram: a text/plain POST of `data_list=<base64 JSON array>`;
 *   - sa-sdk-node: a form POST of `data_list=<base64 gzip JSON array>&gzip=1`.
 * Base64 is of the UTF-8 bytes of the JSON, gzipped first when `gzip=1`. `crc` is the
 * Java-style 32-bit string hash of the base64 text (the web SDK's `hashCode`).
 */
export interface SensorsParams {
  readonly data?: string;
  readonly data_list?: string;
  readonly gzip?: string;
  readonly ext?: string;
  readonly project?: string;
  readonly token?: string;
}

export interface DecodedPayload {
  /** `data` (one record) or `data_list` (an array of records). */
  readonly field: 'data' | 'data_list';
  readonly records: unknown[];
}

/** The web SDK's `hashCode`: Java's String.hashCode over UTF-16 code units, as a signed 32-bit integer. */
export function sensorsHashCode(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (Math.imul(hash, 31) + text.charCodeAt(i)) | 0;
  return hash;
}

/** Form (or query) parameters of a Sensors request: URL-encoded `key=value` pairs. */
export function parseSensorsParams(text: string): SensorsParams {
  const params: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(text)) if (!(key in params)) params[key] = value;
  return params;
}

function reject(status: 400 | 413, error: string, field: string, expected: string, received: string): Result<never, RequestRejection> {
  const problem: FieldProblem = { index: null, field, reason: 'invalid_field', expected, received };
  return err({ status, error, message: `${field}: expected ${expected}, received ${received}`, problems: [problem] });
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/**
 * Decodes the payload of a Sensors request into its records (not yet validated).
 * `maxBytes` bounds the decoded JSON (gzip included), as INGEST_MAX_REQUEST_BYTES does for
 * other bodies.
 */
export function decodeSensorsPayload(params: SensorsParams, maxBytes: number): Result<DecodedPayload, RequestRejection> {
  const field = params.data_list !== undefined ? 'data_list' : params.data !== undefined ? 'data' : undefined;
  if (field === undefined) {
    const present = Object.keys(params).filter((k) => k !== 'project' && k !== 'token');
    return reject(
      400,
      'invalid_body',
      'data',
      'a data or data_list parameter (base64 JSON) in the query string or a form body',
      present.length === 0 ? 'no parameters' : `parameters ${present.join(', ')}`,
    );
  }
  // A `+` sent unencoded in a form or query reads as a space.
  const base64 = (params[field] as string).replace(/ /g, '+').trim();
  if (base64 === '' || !BASE64.test(base64)) return reject(400, 'invalid_body', field, 'base64 text', describeValue(params[field]));

  const gzip = params.gzip ?? '0';
  if (gzip !== '0' && gzip !== '1') return reject(400, 'invalid_body', 'gzip', '0 or 1', describeValue(gzip));

  if (params.ext !== undefined && params.ext !== '') {
    const crc = new URLSearchParams(params.ext).get('crc');
    if (crc !== null) {
      if (!/^-?\d+$/.test(crc)) return reject(400, 'invalid_body', 'ext.crc', 'an integer', describeValue(crc));
      const expected = sensorsHashCode(base64);
      if (Number(crc) !== expected) {
        return reject(400, 'crc_mismatch', 'ext.crc', `${expected}, the hash of the ${field} parameter received (it was altered on the way)`, crc);
      }
    }
  }

  let bytes = Buffer.from(base64.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (gzip === '1') {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: maxBytes });
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        return reject(413, 'payload_too_large', field, `at most ${maxBytes} bytes after decompression`, 'more');
      }
      return reject(400, 'invalid_body', field, 'base64 of gzip data (gzip=1)', 'data that does not gunzip');
    }
  }
  if (bytes.length > maxBytes) return reject(413, 'payload_too_large', field, `at most ${maxBytes} bytes decoded`, `${bytes.length} bytes`);

  const text = bytes.toString('utf8');
  if (nestedDeeperThan(text, MAX_JSON_NESTING))
    return reject(400, 'too_deeply_nested', field, `JSON nested at most ${MAX_JSON_NESTING} levels deep`, 'deeper nesting');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const hint = gzip === '0' && bytes[0] === 0x1f && bytes[1] === 0x8b ? ' (the data is gzip: send gzip=1)' : '';
    return reject(400, 'invalid_json', field, `base64 of JSON${hint}`, `text that is not JSON (${(error as Error).message})`);
  }
  if (field === 'data_list') {
    if (!Array.isArray(parsed)) return reject(400, 'invalid_body', field, 'a JSON array of records', describeValue(parsed));
    if (parsed.length === 0) return reject(400, 'invalid_body', field, 'at least one record', 'an empty array');
    return ok({ field, records: parsed });
  }
  // The web SDK's `data` is one record; some senders put an array there.
  return ok({ field, records: Array.isArray(parsed) ? parsed : [parsed] });
}
