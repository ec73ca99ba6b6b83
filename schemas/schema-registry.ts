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

/** Compatibility levels of the Confluent API; segstream's subjects are FULL_TRANSITIVE (docs/design.md). */
export type CompatibilityLevel = 'NONE' | 'BACKWARD' | 'BACKWARD_TRANSITIVE' | 'FORWARD' | 'FORWARD_TRANSITIVE' | 'FULL' | 'FULL_TRANSITIVE';

/**
 * The schema as the registry is sent it: JSON text, with every string value "{}" written
 * "\u007b}" (the same string to any JSON parser). Apicurio Registry (3.x, its
 * Confluent-compatible API) rewrites `: "{}"` to `: {}` in the text before parsing it as Avro
 * (AvroContentAccepter), which turns a string field's default "{}" into an object, fails
 * Avro's default validation and answers 422 "Failed to discover artifact type from content".
 * segstream's JSON-text fields default to "{}".
 */
export function registryText(schema: AvroSchema): string {
  return JSON.stringify(schema).replaceAll(':"{}"', ':"\\u007b}"');
}

async function errorOf(response: Response): Promise<string> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as { message?: string; error_code?: number };
    return `HTTP ${response.status}${body.error_code ? `, error ${body.error_code}` : ''}: ${body.message ?? text}`;
  } catch {
    return `HTTP ${response.status}: ${text.slice(0, 200)}`;
  }
}

/**
 * A Confluent Schema Registry (or a registry speaking its REST API, such as Apicurio
 * Registry's /apis/ccompat/v7) over that API. Schemas are registered under their record
 * full name (RecordNameStrategy) and ids come from the server.
 */
export class ConfluentSchemaRegistry implements SchemaRegistry {
  readonly kind = 'confluent';
  readonly baseUrl: string;
  readonly #byId = new Map<number, AvroSchema>();

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  async #request(path: string, init?: RequestInit): Promise<Response> {
    return fetch(`${this.baseUrl}${path}`, {
      ...init,
      headers: { Accept: 'application/vnd.schemaregistry.v1+json', 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
      signal: AbortSignal.timeout(10_000),
    });
  }

  /** Registers the schema under the subject (a no-op answering the same id when it is there already) and returns its id. */
  async idFor(subject: string, schema: AvroSchema): Promise<number> {
    const response = await this.#request(`/subjects/${encodeURIComponent(subject)}/versions`, {
      method: 'POST',
      body: JSON.stringify({ schema: registryText(schema) }),
    });
    if (!response.ok) throw new Error(`schema registry refused subject ${subject} (${await errorOf(response)})`);
    const body = (await response.json()) as { id?: number };
    if (typeof body.id !== 'number') throw new Error(`schema registry answered no id for subject ${subject}: ${JSON.stringify(body)}`);
    this.#byId.set(body.id, schema);
    return body.id;
  }

  /** Sets the subject's compatibility level: later versions the registry takes must meet it. */
  async setCompatibility(subject: string, level: CompatibilityLevel): Promise<void> {
    const response = await this.#request(`/config/${encodeURIComponent(subject)}`, { method: 'PUT', body: JSON.stringify({ compatibility: level }) });
    if (!response.ok) throw new Error(`schema registry refused compatibility ${level} for subject ${subject} (${await errorOf(response)})`);
    await response.arrayBuffer();
  }

  async schemaById(id: number): Promise<AvroSchema | undefined> {
    const cached = this.#byId.get(id);
    if (cached) return cached;
    const response = await this.#request(`/schemas/ids/${id}`);
    if (response.status === 404) {
      await response.arrayBuffer();
      return undefined;
    }
    if (!response.ok) throw new Error(`schema registry lookup of id ${id} failed (${await errorOf(response)})`);
    const body = (await response.json()) as { schema?: string };
    if (typeof body.schema !== 'string') throw new Error(`schema registry lookup of id ${id} answered no schema: ${JSON.stringify(body)}`);
    const schema = JSON.parse(body.schema) as AvroSchema;
    this.#byId.set(id, schema);
    return schema;
  }
}

/**
 * Registers every version of every subject in the catalog, in the order of their ids in
 * schemas/registry.json (each subject's versions oldest first), and makes each subject
 * FULL_TRANSITIVE once it exists: the registry then holds the repository's history (records
 * of older versions resolve) and refuses a later version that breaks the rule. A fresh
 * registry that numbers schemas 1, 2, 3, ... (Apicurio does) so gives them the files' ids.
 * Registering what is there already changes nothing. Returns the registry's id per file id.
 */
export async function registerCatalog(registry: ConfluentSchemaRegistry, catalog: SchemaCatalog): Promise<Map<number, number>> {
  const ids = new Map<number, number>();
  const configured = new Set<string>();
  for (const version of [...catalog.versions].sort((a, b) => a.id - b.id)) {
    ids.set(version.id, await registry.idFor(version.subject, version.schema));
    if (!configured.has(version.subject)) {
      await registry.setCompatibility(version.subject, 'FULL_TRANSITIVE');
      configured.add(version.subject);
    }
  }
  return ids;
}
