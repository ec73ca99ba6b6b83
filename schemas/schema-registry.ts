import avsc from 'avsc';
import type { AvroSchema, SchemaCatalog } from './catalog.ts';

/** Where writer schema ids come from and where readers look them up. */
export interface SchemaRegistry {
  readonly kind: string;
  /** The id to write records of this schema under (registering it if the registry does that). */
  idFor(subject: string, schema: AvroSchema): Promise<number>;
  /** The writer schema with this id, or undefined when the registry does not know it. */
  schemaById(id: number): Promise<AvroSchema | undefined>;
}

/** Parsing canonical form: two schemas that differ only in docs or field order of JSON keys compare equal. */
export function canonicalFingerprint(schema: AvroSchema): string {
  return avsc.Type.forSchema(schema).fingerprint('sha256').toString('hex');
}

/**
 * The default registry: the versions committed under schemas/. Ids are fixed in
 * registry.json, so every process of every service agrees on them without a server.
 */
export class FileSchemaRegistry implements SchemaRegistry {
  readonly kind = 'file';
  readonly #catalog: SchemaCatalog;

  constructor(catalog: SchemaCatalog) {
    this.#catalog = catalog;
  }

  async idFor(subject: string, schema: AvroSchema): Promise<number> {
    const wanted = canonicalFingerprint(schema);
    const match = this.#catalog.history(subject).find((v) => canonicalFingerprint(v.schema) === wanted);
    if (!match) throw new Error(`schema for subject ${subject} is not in schemas/registry.json; add it there as a new version`);
    return match.id;
  }

  async schemaById(id: number): Promise<AvroSchema | undefined> {
    return this.#catalog.versions.find((v) => v.id === id)?.schema;
  }
}

/**
 * A Confluent Schema Registry over its REST API. Schemas are registered under their
 * record full name (RecordNameStrategy) and ids come from the server.
 */
export class ConfluentSchemaRegistry implements SchemaRegistry {
  readonly kind = 'confluent';
  readonly #baseUrl: string;
  readonly #byId = new Map<number, AvroSchema>();

  constructor(baseUrl: string) {
    this.#baseUrl = baseUrl.replace(/\/+$/, '');
  }

  async #request(path: string, init?: RequestInit): Promise<Response> {
    return fetch(`${this.#baseUrl}${path}`, {
      ...init,
      headers: { Accept: 'application/vnd.schemaregistry.v1+json', 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
      signal: AbortSignal.timeout(10_000),
    });
  }

  async idFor(subject: string, schema: AvroSchema): Promise<number> {
    const response = await this.#request(`/subjects/${encodeURIComponent(subject)}/versions`, {
      method: 'POST',
      body: JSON.stringify({ schema: JSON.stringify(schema) }),
    });
    const body = (await response.json()) as { id?: number; message?: string };
    if (!response.ok || typeof body.id !== 'number') {
      throw new Error(`schema registry refused subject ${subject} (HTTP ${response.status}): ${body.message ?? 'no message'}`);
    }
    this.#byId.set(body.id, schema);
    return body.id;
  }

  async schemaById(id: number): Promise<AvroSchema | undefined> {
    const cached = this.#byId.get(id);
    if (cached) return cached;
    const response = await this.#request(`/schemas/ids/${id}`);
    if (response.status === 404) return undefined;
    const body = (await response.json()) as { schema?: string; message?: string };
    if (!response.ok || typeof body.schema !== 'string')
      throw new Error(`schema registry lookup of id ${id} failed (HTTP ${response.status}): ${body.message ?? 'no message'}`);
    const schema = JSON.parse(body.schema) as AvroSchema;
    this.#byId.set(id, schema);
    return schema;
  }
}
