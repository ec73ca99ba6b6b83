/**
 * Avro binary encoding of the few primitives a container needs, and the object container
 * file itself (Avro specification, "Object Container Files"): records already in Avro
 * binary are framed without being decoded.
 */

const MAGIC = Buffer.from([0x4f, 0x62, 0x6a, 0x01]); // "Obj" 1

/** Writes an Avro long (zigzag, then base-128 varint; exact up to 2^53) at `at`; returns where it ends. */
export function writeAvroLong(target: Uint8Array, at: number, value: number): number {
  if (!Number.isSafeInteger(value)) throw new RangeError(`an Avro long must be a safe integer, received ${value}`);
  // Zigzag with arithmetic rather than bit operators, which would cut to 32 bits.
  let n = value >= 0 ? value * 2 : -value * 2 - 1;
  let end = at;
  while (n >= 0x80) {
    target[end++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  target[end++] = n;
  return end;
}

/** The most bytes an Avro long takes. */
const MAX_LONG_BYTES = 10;

export function avroLong(value: number): Buffer {
  const out = Buffer.allocUnsafe(MAX_LONG_BYTES);
  return out.subarray(0, writeAvroLong(out, 0, value));
}

/** An Avro string as UTF-8: the length, then the bytes (Avro bytes encode alike, so the metadata values use it too). */
export function avroString(value: string): Buffer {
  const length = Buffer.byteLength(value);
  const out = Buffer.allocUnsafe(MAX_LONG_BYTES + length);
  const at = writeAvroLong(out, 0, length);
  out.write(value, at);
  return out.subarray(0, at + length);
}

/**
 * An object container file of one uncompressed block of `count` records under `schema`,
 * whose Avro binary is `parts` concatenated (a record may span several parts). `sync` is
 * the file's 16-byte sync marker.
 */
export function avroObjectContainer(schema: object, block: { readonly count: number; readonly parts: readonly Uint8Array[] }, sync: Uint8Array): Buffer {
  if (sync.length !== 16) throw new RangeError(`an Avro sync marker is 16 bytes, received ${sync.length}`);
  let size = 0;
  for (const part of block.parts) size += part.length;
  const file: Uint8Array[] = [
    MAGIC,
    avroLong(2),
    avroString('avro.schema'),
    avroString(JSON.stringify(schema)),
    avroString('avro.codec'),
    avroString('null'),
    avroLong(0),
    sync,
  ];
  file.push(avroLong(block.count), avroLong(size));
  for (const part of block.parts) file.push(part);
  file.push(sync);
  return Buffer.concat(file);
}
