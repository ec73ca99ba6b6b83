import avsc from 'avsc';
import { errorMessage } from '../lib/errors.ts';
import type { AvroSchema, SchemaCatalog } from './catalog.ts';

export interface CompatibilityProblem {
  readonly subject: string;
  readonly reader: number;
  readonly writer: number;
  readonly detail: string;
}

/** Undefined when `reader` can read everything written with `writer`; otherwise why not. */
export function readProblem(reader: AvroSchema, writer: AvroSchema): string | undefined {
  try {
    avsc.Type.forSchema(reader).createResolver(avsc.Type.forSchema(writer));
    return undefined;
  } catch (error) {
    return errorMessage(error);
  }
}

/**
 * Full transitive compatibility, the rule for every subject here: each version reads
 * data written by every other (older readers read newer writers and vice versa), so
 * producers and consumers can be upgraded in any order.
 */
export function compatibilityProblems(catalog: SchemaCatalog): CompatibilityProblem[] {
  const problems: CompatibilityProblem[] = [];
  const subjects = new Set(catalog.versions.map((v) => v.subject));
  for (const subject of subjects) {
    const history = catalog.history(subject);
    for (const reader of history) {
      for (const writer of history) {
        if (reader === writer) continue;
        const detail = readProblem(reader.schema, writer.schema);
        if (detail) problems.push({ subject, reader: reader.version, writer: writer.version, detail });
      }
    }
  }
  return problems;
}
