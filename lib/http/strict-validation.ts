import { Ajv } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';

/**
 * Fastify's validator compiler for schemas that mean what they say: bodies are validated
 * strictly (a number sent as text is refused, an unknown field is an error, not silently
 * dropped); query strings and path parameters arrive as text, so they are converted to
 * the types their schemas name.
 */
export function strictValidatorCompiler(): FastifySchemaCompiler<Record<string, unknown>> {
  const strict = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: false, removeAdditional: false, allowUnionTypes: true });
  const fromText = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: 'array', removeAdditional: false, allowUnionTypes: true });
  return ({ schema, httpPart }) => (httpPart === 'body' ? strict : fromText).compile(schema);
}
