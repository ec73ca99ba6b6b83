import { describe, expect, it } from 'vitest';
import { type AvroSchema, buildCatalog, loadSchemaCatalog } from '../../../schemas/catalog.ts';
import { compatibilityProblems, readProblem } from '../../../schemas/compatibility.ts';

const v1: AvroSchema & { fields: unknown[] } = { type: 'record', name: 'Thing', namespace: 't', fields: [{ name: 'a', type: 'string' }] };

describe('schema compatibility', () => {
  it('every version of every subject in schemas/ reads every other (full transitive)', async () => {
    const catalog = await loadSchemaCatalog();
    expect(catalog.history('segstream.Event').length).toBeGreaterThanOrEqual(2);
    expect(compatibilityProblems(catalog)).toEqual([]);
  });

  it('accepts a new field with a default', () => {
    const v2 = { ...v1, fields: [...v1.fields, { name: 'b', type: 'int', default: 0 }] };
    expect(readProblem(v2, v1)).toBeUndefined();
    expect(readProblem(v1, v2)).toBeUndefined();
  });

  it('catches a new field without a default and a changed type', () => {
    const noDefault = { ...v1, fields: [...v1.fields, { name: 'b', type: 'int' }] };
    const catalog = buildCatalog([
      { subject: 't.Thing', version: 1, id: 1, schema: v1 },
      { subject: 't.Thing', version: 2, id: 2, schema: noDefault },
    ]);
    expect(compatibilityProblems(catalog)).toEqual([{ subject: 't.Thing', reader: 2, writer: 1, detail: expect.stringContaining('b') }]);
    const retyped = { ...v1, fields: [{ name: 'a', type: 'int' }] };
    expect(readProblem(retyped, v1)).toBeDefined();
  });

  it('rejects reused ids and version gaps in the registry', () => {
    expect(() =>
      buildCatalog([
        { subject: 'a', version: 1, id: 1, schema: v1 },
        { subject: 'b', version: 1, id: 1, schema: v1 },
      ]),
    ).toThrow(/id 1 is used twice/);
    expect(() => buildCatalog([{ subject: 'a', version: 2, id: 1, schema: v1 }])).toThrow(/without gaps/);
  });
});
