/**
 * The worker protocol as JSON Schema (draft-07), generated from the zod schemas of ./ops.ts and
 * ./wire.ts and committed as worker-protocol.schema.json (scripts/gen-schema.ts writes it; a
 * unit test fails when it is stale). The Python worker reads that file.
 *
 * The document is a schema of one request line, so generic tools can check a request; the
 * worker itself takes `definitions["<op>.request"]` by op name. Definitions:
 * `<op>.request`, `<op>.reply` per op, `error` (OpFailure) and `ready` (the start-up line).
 */
import { z } from 'zod';
import { OPS, OP_NAMES } from './ops.js';
import { OpFailureSchema, ReadyLineSchema } from './wire.js';

/** File name of the generated schema, in this folder. */
export const WORKER_PROTOCOL_SCHEMA_FILE = 'worker-protocol.schema.json';

/**
 * The JSON Schema keywords the Python validator (src/toolchain/python/protocol.py) knows. The
 * generator refuses any other, so a zod construct the validator cannot check fails here, at
 * generation, not in the worker.
 */
export const SUPPORTED_KEYWORDS = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'propertyNames',
  'items',
  'enum',
  'const',
  'anyOf',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'description',
  'default',
]);

type JsonSchema = Record<string, unknown>;

function toJsonSchema(schema: z.ZodType, where: string): JsonSchema {
  const json = z.toJSONSchema(schema, { target: 'draft-07', io: 'input', unrepresentable: 'throw' }) as JsonSchema;
  delete json.$schema;
  checkKeywords(json, where);
  return json;
}

/** Throws when `schema` uses a keyword outside SUPPORTED_KEYWORDS (a `$ref` included). */
export function checkKeywords(schema: unknown, where: string): void {
  if (typeof schema !== 'object' || schema === null) return;
  for (const [key, value] of Object.entries(schema)) {
    if (!SUPPORTED_KEYWORDS.has(key) || (key === 'items' && Array.isArray(value)))
      throw new Error(
        `${where}: JSON Schema keyword "${key}"${Array.isArray(value) && key === 'items' ? ' with a list (a tuple)' : ''} is not one the worker's validator checks`,
      );
    if (key === 'properties') {
      for (const [name, sub] of Object.entries(value as Record<string, unknown>))
        checkKeywords(sub, `${where}.${name}`);
    } else if (key === 'anyOf') {
      (value as unknown[]).forEach((sub, i) => checkKeywords(sub, `${where}|${i}`));
    } else if (key === 'items' || key === 'propertyNames' || (key === 'additionalProperties' && value !== false)) {
      checkKeywords(value, `${where}[${key}]`);
    }
  }
}

/** The whole protocol as one JSON Schema document (see the module comment). */
export function workerProtocolJsonSchema(): JsonSchema {
  const definitions: Record<string, JsonSchema> = {};
  for (const name of OP_NAMES) {
    const { summary, request, reply } = OPS[name];
    definitions[`${name}.request`] = { description: summary, ...toJsonSchema(request, `${name}.request`) };
    definitions[`${name}.reply`] = toJsonSchema(reply, `${name}.reply`);
  }
  definitions.error = toJsonSchema(OpFailureSchema, 'error');
  definitions.ready = toJsonSchema(ReadyLineSchema, 'ready');
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $comment: 'Generated from src/toolchain/protocol/*.ts by scripts/gen-schema.ts; do not edit.',
    title: 'edgezoo worker request line',
    type: 'object',
    required: ['id', 'op', 'args'],
    properties: {
      id: { type: 'integer' },
      op: { type: 'string', enum: OP_NAMES },
      args: { type: 'object' },
    },
    allOf: OP_NAMES.map((name) => ({
      if: { properties: { op: { const: name } } },
      // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
      then: { properties: { args: { $ref: `#/definitions/${name}.request` } } },
    })),
    definitions,
  };
}

/** worker-protocol.schema.json as committed: 2-space indented, newline at the end. */
export function renderWorkerProtocolJsonSchema(): string {
  return `${JSON.stringify(workerProtocolJsonSchema(), null, 2)}\n`;
}
