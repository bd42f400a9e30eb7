/**
 * The worker protocol is defined once (src/toolchain/protocol): the committed JSON Schema the
 * Python worker reads is what the zod schemas generate, uses only what the Python validator
 * checks, and names exactly the ops the Python modules register.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { PYTHON_OPS_DIR } from '../../src/toolchain/envs.js';
import {
  checkKeywords,
  OP_NAMES,
  OPS,
  renderWorkerProtocolJsonSchema,
  WORKER_PROTOCOL_SCHEMA_FILE,
  workerProtocolJsonSchema,
} from '../../src/toolchain/protocol/index.js';

const schemaFile = path.join(path.dirname(PYTHON_OPS_DIR), 'protocol', WORKER_PROTOCOL_SCHEMA_FILE);

test('worker-protocol.schema.json is what the op schemas generate', () => {
  assert.ok(
    readFileSync(schemaFile, 'utf8') === renderWorkerProtocolJsonSchema(),
    'src/toolchain/protocol/worker-protocol.schema.json is stale; run `npx tsx scripts/gen-schema.ts` to regenerate it',
  );
});

test('every op of the protocol is registered by one Python ops module, and no other op is', () => {
  const registered: string[] = [];
  for (const file of readdirSync(PYTHON_OPS_DIR).filter((name) => /^ops_.*\.py$/.test(name))) {
    const text = readFileSync(path.join(PYTHON_OPS_DIR, file), 'utf8');
    for (const match of text.matchAll(/^@op\("([^"]+)"\)/gm)) registered.push(match[1]!);
  }
  assert.deepEqual([...registered].sort(), [...OP_NAMES].sort());
});

test('requests refuse unknown keys (a typo is an error, not a silently ignored option)', () => {
  const definitions = workerProtocolJsonSchema().definitions as Record<string, { additionalProperties?: unknown }>;
  for (const name of OP_NAMES) assert.equal(definitions[`${name}.request`]!.additionalProperties, false, name);
  assert.equal(OPS['onnx.slim'].request.safeParse({ model: 'a', output: 'b', outptu: 'c' }).success, false);
});

test('the generator refuses a schema the Python validator could not check', () => {
  const tuple = z.toJSONSchema(z.strictObject({ pair: z.tuple([z.number(), z.string()]) }), { target: 'draft-07' });
  delete tuple.$schema;
  assert.throws(() => checkKeywords(tuple, 'example.request'), {
    message: `example.request.pair: JSON Schema keyword "items" with a list (a tuple) is not one the worker's validator checks`,
  });
  const ref = { type: 'object', properties: { next: { $ref: '#' } } };
  assert.throws(() => checkKeywords(ref, 'example.request'), {
    message: `example.request.next: JSON Schema keyword "$ref" is not one the worker's validator checks`,
  });
  const supported = z.toJSONSchema(z.strictObject({ n: z.number().int().min(1), s: z.enum(['a', 'b']).nullable() }), {
    target: 'draft-07',
  });
  delete supported.$schema;
  assert.doesNotThrow(() => checkKeywords(supported, 'example.request'));
});
