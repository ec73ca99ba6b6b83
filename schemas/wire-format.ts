import { err, ok, type Result } from '../lib/result.ts';

/**
 * Confluent wire format: magic byte 0, the writer schema id as a 4-byte big-endian
 * integer, then the Avro binary body. Any Schema Registry-aware consumer reads it.
 */
export const MAGIC_BYTE = 0;
export const HEADER_LENGTH = 5;

export function encodeWire(schemaId: number, body: Buffer): Buffer {
  if (!Number.isInteger(schemaId) || schemaId < 0 || schemaId > 0x7fffffff)
    throw new RangeError(`schema id must be a non-negative 32-bit integer, received ${schemaId}`);
  const out = Buffer.allocUnsafe(HEADER_LENGTH + body.length);
  out.writeUInt8(MAGIC_BYTE, 0);
  out.writeInt32BE(schemaId, 1);
  body.copy(out, HEADER_LENGTH);
  return out;
}

export interface WireMessage {
  readonly schemaId: number;
  readonly body: Buffer;
}

export function parseWire(buffer: Buffer | null): Result<WireMessage, string> {
  if (buffer === null) return err('record has no value (tombstone)');
  if (buffer.length < HEADER_LENGTH) return err(`record is ${buffer.length} bytes, shorter than the ${HEADER_LENGTH}-byte Confluent header`);
  const magic = buffer.readUInt8(0);
  if (magic !== MAGIC_BYTE) return err(`expected magic byte 0 (Confluent wire format), received ${magic}`);
  return ok({ schemaId: buffer.readInt32BE(1), body: buffer.subarray(HEADER_LENGTH) });
}
