import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Schema } from 'avsc';

export type AvroSchema = Schema & { readonly name?: string; readonly namespace?: string };

export interface SchemaVersion {
  readonly subject: string;
  readonly version: number;
  readonly id: number;
  readonly schema: AvroSchema;
}

/** Every version of every subject the repository defines (schemas/registry.json). */
export interface SchemaCatalog {
  readonly versions: readonly SchemaVersion[];
  latest(subject: string): SchemaVersion;
  history(subject: string): readonly SchemaVersion[];
}

interface RegistryFile {
  readonly subjects: Record<string, readonly { version: number; id: number; file: string }[]>;
}

export const SCHEMAS_DIR = dirname(fileURLToPath(import.meta.url));

export function buildCatalog(versions: readonly SchemaVersion[]): SchemaCatalog {
  const bySubject = new Map<string, SchemaVersion[]>();
  const ids = new Set<number>();
  for (const v of versions) {
    if (ids.has(v.id)) throw new Error(`schema id ${v.id} is used twice (subject ${v.subject} v${v.version}); ids are never reused`);
    ids.add(v.id);
    const list = bySubject.get(v.subject) ?? [];
    list.push(v);
    bySubject.set(v.subject, list);
  }
  for (const [subject, list] of bySubject) {
    list.sort((a, b) => a.version - b.version);
    list.forEach((v, index) => {
      if (v.version !== index + 1)
        throw new Error(`subject ${subject}: versions must be 1, 2, 3, ... without gaps, found ${list.map((x) => x.version).join(', ')}`);
    });
  }
  const history = (subject: string): readonly SchemaVersion[] => {
    const list = bySubject.get(subject);
    if (!list) throw new Error(`unknown schema subject ${subject}; known: ${[...bySubject.keys()].join(', ')}`);
    return list;
  };
  return Object.freeze({
    versions: Object.freeze([...versions]),
    history,
    latest: (subject: string) => history(subject).at(-1) as SchemaVersion,
  });
}

/** Reads schemas/registry.json and the .avsc files it lists. */
export async function loadSchemaCatalog(dir: string = SCHEMAS_DIR): Promise<SchemaCatalog> {
  const registry = JSON.parse(await readFile(join(dir, 'registry.json'), 'utf8')) as RegistryFile;
  const versions: SchemaVersion[] = [];
  for (const [subject, entries] of Object.entries(registry.subjects)) {
    for (const entry of entries) {
      const schema = JSON.parse(await readFile(join(dir, entry.file), 'utf8')) as AvroSchema;
      const fullName = `${schema.namespace}.${schema.name}`;
      if (fullName !== subject) throw new Error(`${entry.file} defines ${fullName}, but registry.json lists it under subject ${subject}`);
      versions.push({ subject, version: entry.version, id: entry.id, schema });
    }
  }
  return buildCatalog(versions);
}
