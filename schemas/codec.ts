import avsc from 'avsc';
import { errorMessage } from '../lib/errors.ts';
import { err, ok, type Result } from '../lib/result.ts';
import type { AvroSchema } from './catalog.ts';
import type { SchemaRegistry } from './schema-registry.ts';
import { encodeWire, parseWire } from './wire-format.ts';

export type DecodeFailureReason = 'not_wire_format' | 'unknown_schema_id' | 'incompatible_schema' | 'undecodable';

export interface DecodeFailure {
  readonly reason: DecodeFailureReason;
  readonly detail: string;
  readonly schemaId?: number;
}

/**
 * Encodes values with the latest schema of a subject and decodes records written with
 * any registered version of it, resolving them to the reader (latest) schema.
 */
export class AvroCodec<V> {
  readonly subject: string;
  /** The latest schema of the subject: what values are encoded with and decoded to. */
  readonly schema: AvroSchema;
  readonly writerId: number;
  readonly #type: avsc.Type;
  readonly #registry: SchemaRegistry;
  /** Per writer id: the resolver to the reader type, or the failure found for it. */
  readonly #readers = new Map<number, Result<avsc.Resolver | null, DecodeFailure>>();

  private constructor(subject: string, schema: AvroSchema, type: avsc.Type, writerId: number, registry: SchemaRegistry) {
    this.subject = subject;
    this.schema = schema;
    this.#type = type;
    this.writerId = writerId;
    this.#registry = registry;
    this.#readers.set(writerId, ok(null));
  }

  static async create<V>(registry: SchemaRegistry, subject: string, schema: AvroSchema): Promise<AvroCodec<V>> {
    const type = avsc.Type.forSchema(schema);
    return new AvroCodec<V>(subject, schema, type, await registry.idFor(subject, schema), registry);
  }

  encode(value: V): Buffer {
    return encodeWire(this.writerId, this.#type.toBuffer(value));
  }

  /** The Avro body alone (no wire header), in the latest schema. */
  encodeBody(value: V): Buffer {
    return this.#type.toBuffer(value);
  }

  /**
   * The Avro body of a wire-format record as the latest schema writes it: the record's own
   * bytes when it was written with that schema (no decoding), else decoded and written again.
   */
  async latestBody(buffer: Buffer): Promise<Result<Buffer, DecodeFailure>> {
    const own = this.ownLatestBody(buffer);
    if (own) return ok(own);
    const decoded = await this.decode(buffer);
    return decoded.ok ? ok(this.encodeBody(decoded.value)) : decoded;
  }

  /** The record's own body when it is in wire format and written with the latest schema (a view, no copy); else undefined. */
  ownLatestBody(buffer: Buffer): Buffer | undefined {
    const wire = parseWire(buffer);
    return wire.ok && wire.value.schemaId === this.writerId ? wire.value.body : undefined;
  }

  isValid(value: unknown, onInvalid?: (path: string[], value: unknown) => void): boolean {
    return this.#type.isValid(value, onInvalid ? { errorHook: (path, v) => onInvalid(path, v) } : undefined);
  }

  /** Decodes synchronously when the writer id was seen before; undefined means "call decode". */
  decodeKnown(buffer: Buffer | null): Result<V, DecodeFailure> | undefined {
    const wire = parseWire(buffer);
    if (!wire.ok) return err({ reason: 'not_wire_format', detail: wire.error });
    const reader = this.#readers.get(wire.value.schemaId);
    if (!reader) return undefined;
    if (!reader.ok) return reader;
    try {
      return ok(this.#type.fromBuffer(wire.value.body, reader.value ?? undefined) as V);
    } catch (error) {
      return err({
        reason: 'undecodable',
        detail: `Avro body does not match schema id ${wire.value.schemaId}: ${errorMessage(error)}`,
        schemaId: wire.value.schemaId,
      });
    }
  }

  async decode(buffer: Buffer | null): Promise<Result<V, DecodeFailure>> {
    const known = this.decodeKnown(buffer);
    if (known) return known;
    const { schemaId } = (parseWire(buffer) as { value: { schemaId: number } }).value;
    this.#readers.set(schemaId, await this.#resolverFor(schemaId));
    return this.decodeKnown(buffer) as Result<V, DecodeFailure>;
  }

  async #resolverFor(schemaId: number): Promise<Result<avsc.Resolver, DecodeFailure>> {
    const writer = await this.#registry.schemaById(schemaId);
    if (!writer) return err({ reason: 'unknown_schema_id', detail: `schema id ${schemaId} is not in the ${this.#registry.kind} schema registry`, schemaId });
    try {
      return ok(this.#type.createResolver(avsc.Type.forSchema(writer)));
    } catch (error) {
      return err({ reason: 'incompatible_schema', detail: `writer schema id ${schemaId} cannot be read as ${this.subject}: ${errorMessage(error)}`, schemaId });
    }
  }
}
