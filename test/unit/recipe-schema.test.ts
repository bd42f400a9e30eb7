/**
 * The generated files stay in step with the zod schema: recipes/recipe.schema.json,
 * src/recipe/REFERENCE.md and the reference section of README.md.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateRecipeReference, recipeJsonSchema, renderRecipeJsonSchema } from '../../src/recipe/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const REGENERATE = 'run `npx tsx scripts/gen-schema.ts` to regenerate it';

test('recipes/recipe.schema.json is what the zod schema generates', () => {
  const committed = readFileSync(path.join(repoRoot, 'recipes/recipe.schema.json'), 'utf8');
  assert.ok(committed === renderRecipeJsonSchema(), `recipes/recipe.schema.json is stale; ${REGENERATE}`);
});

test('src/recipe/REFERENCE.md is what the generator produces', () => {
  const committed = readFileSync(path.join(repoRoot, 'src/recipe/REFERENCE.md'), 'utf8');
  assert.ok(committed === generateRecipeReference(), `src/recipe/REFERENCE.md is stale; ${REGENERATE}`);
});

const START = '<!-- recipe-reference:start -->';
const END = '<!-- recipe-reference:end -->';
const readme = existsSync(path.join(repoRoot, 'README.md'))
  ? readFileSync(path.join(repoRoot, 'README.md'), 'utf8')
  : '';
const hasMarkers = readme.includes(START) && readme.includes(END);

test('README.md reference section equals the generated reference', {
  skip: hasMarkers ? false : `README.md has no ${START} ... ${END} section yet`,
}, () => {
  const section = readme.slice(readme.indexOf(START) + START.length, readme.indexOf(END));
  assert.ok(
    section.trim() === generateRecipeReference().trim(),
    `README.md's recipe reference differs from the schema; paste src/recipe/REFERENCE.md between the markers (${REGENERATE} first)`,
  );
});

test('the JSON Schema names its draft and title, and describes every property', () => {
  const schema = recipeJsonSchema() as {
    $schema?: string;
    title?: string;
    description?: string;
    properties?: Record<string, unknown>;
  };
  assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  assert.equal(schema.title, 'edgezoo recipe');
  assert.ok(schema.description);
  const undescribed: string[] = [];
  const walk = (node: unknown, at: string) => {
    if (typeof node !== 'object' || node === null) return;
    const record = node as Record<string, unknown>;
    const properties = record.properties as Record<string, Record<string, unknown>> | undefined;
    for (const [key, property] of Object.entries(properties ?? {})) {
      if (typeof property.description !== 'string' || property.description.length < 10) undescribed.push(`${at}${key}`);
      walk(property, `${at}${key}.`);
    }
    for (const key of ['items', 'additionalProperties']) walk(record[key], at + (key === 'items' ? '[].' : '<key>.'));
    for (const option of (record.anyOf as unknown[] | undefined) ?? []) walk(option, at);
  };
  walk(schema, '');
  assert.deepEqual(undescribed, []);
  assert.deepEqual(Object.keys(schema.properties ?? {}), [
    'name',
    'version',
    'license',
    'license_file',
    'description',
    'task',
    'homepage',
    'tags',
    'source',
    'labels',
    'inputs',
    'outputs',
    'preprocess',
    'calibration',
    'validation',
    'replacements',
    'targets',
    'skip',
    'converters',
    'strategies',
    'allow_ops',
    'opset',
    'quantization',
    'dequantize',
    'tolerances',
  ]);
});

test('the reference lists nested keys with their defaults', () => {
  const reference = generateRecipeReference();
  assert.match(reference, /^\| `inputs\[\]\.layout` \| string \| optional \| Axis meaning/m);
  assert.match(reference, /^\| `opset` \| integer \| default `17` \|/m);
  assert.match(
    reference,
    /^\| `converters\.tflite` \| `onnx2tf` \\\| `litert-torch` or list of `onnx2tf` \\\| `litert-torch` \| optional \|/m,
  );
  assert.match(reference, /^\| `tolerances\.<key>\.atol` \| number \| optional \|/m);
  assert.match(reference, /^\| openvino \| fp32, fp16, int8 \|$/m);
});
