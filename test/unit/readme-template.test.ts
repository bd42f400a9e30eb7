/**
 * The README's "Add a model" template, filled in as its comments say (a generated model in the
 * download cache, MIT license text, labels, image samples), passes `edgezoo check` (with its
 * semantic rules) and the policies this repository's zoo is held to (zoo-policies.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { buildModel, encodeModel } from '../../src/formats/onnx/index.js';
import { checkRecipes, type Recipe } from '../../src/recipe/index.js';
import { seededFloats } from './onnx-fixtures.js';
import {
  assertEveryTargetOrSkipped,
  assertLicenseText,
  assertPinnedPackageWeights,
  assertSamples,
} from './zoo-policies.js';

const repo = path.resolve(import.meta.dirname, '..', '..');
const cli = path.join(repo, 'src', 'cli', 'edgezoo.mjs');
let root: string;
let template: string;

/** The first yaml block of the README's "Add a model" section, unindented. */
function readmeTemplate(): string {
  const readme = readFileSync(path.join(repo, 'README.md'), 'utf8');
  const section = readme.slice(
    readme.indexOf('## Add a model'),
    readme.indexOf('\n## ', readme.indexOf('## Add a model') + 5),
  );
  const block = /^( *)```yaml\n([\s\S]*?)^\1```$/m.exec(section);
  assert.ok(block, 'the section has a yaml block');
  return block[2]!.replace(new RegExp(`^${block[1]}`, 'gm'), '');
}

/** A model with the template's input and output: image [1,3,224,224] -> pool -> 5 class scores. */
function templateModel(): Uint8Array {
  return encodeModel(
    buildModel({
      inputs: [{ name: 'input', shape: [1, 3, 224, 224] }],
      outputs: [{ name: 'logits', shape: [1, 5] }],
      nodes: [
        { op: 'GlobalAveragePool', name: 'pool', inputs: ['input'], outputs: ['p'] },
        { op: 'Flatten', name: 'flatten', inputs: ['p'], outputs: ['f'], attributes: { axis: 1 } },
        { op: 'Gemm', name: 'fc', inputs: ['f', 'w', 'b'], outputs: ['logits'], attributes: { transB: 1 } },
      ],
      initializers: [
        { name: 'w', data: seededFloats(5 * 3, 7), dims: [5, 3] },
        { name: 'b', data: seededFloats(5, 8), dims: [5] },
      ],
    }),
  );
}

/** A 224x224 RGB gradient (rows identical, so the PNG stays small); `seed` shifts it per channel. */
async function gradientPng(file: string, seed: number): Promise<void> {
  const size = 224;
  const pixels = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      for (let c = 0; c < 3; c++) {
        const t = (x / (size - 1) + (seed * 0.137 + c * 0.31)) % 1;
        pixels[(y * size + x) * 3 + c] = Math.round(255 * (t < 0.5 ? 2 * t : 2 - 2 * t));
      }
  await sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toFile(file);
}

before(async () => {
  template = readmeTemplate();
  root = mkdtempSync(path.join(tmpdir(), 'edgezoo-readme-template-'));
  const model = templateModel();
  const sha256 = createHash('sha256').update(model).digest('hex');
  // The package source is "cached": its bytes sit in the download cache under their sha256.
  mkdirSync(path.join(root, 'artifacts', 'downloads', 'sha256'), { recursive: true });
  writeFileSync(path.join(root, 'artifacts', 'downloads', 'sha256', sha256), model);
  mkdirSync(path.join(root, 'recipes'));
  writeFileSync(path.join(root, 'recipes', 'my-model.yaml'), template.replace('<64 hex digits>', sha256));
  const models = path.join(root, 'models', 'my-model');
  mkdirSync(path.join(models, 'calib'), { recursive: true });
  mkdirSync(path.join(models, 'val'), { recursive: true });
  writeFileSync(path.join(models, 'LICENSE'), readFileSync(path.join(repo, 'models', 'mtcnn-onet', 'LICENSE')));
  writeFileSync(path.join(models, 'labels.txt'), 'cat\ndog\nbird\nfish\nfrog\n');
  for (let i = 0; i < 64; i++) await gradientPng(path.join(models, 'calib', `${String(i).padStart(3, '0')}.png`), i);
  for (let i = 0; i < 32; i++)
    await gradientPng(path.join(models, 'val', `${String(i).padStart(3, '0')}.png`), 100 + i);
});
after(() => rmSync(root, { recursive: true, force: true }));

function check(cwd: string) {
  return spawnSync(process.execPath, [cli, 'check'], { cwd, encoding: 'utf8' });
}

test('the template passes edgezoo check, semantic rules included', () => {
  const result = check(root);
  assert.equal(result.stdout, '1 recipe ok\n', result.stdout + result.stderr);
  assert.equal(result.status, 0);
});

test('the template meets the policies of this repository zoo', async () => {
  const [result] = await checkRecipes([path.join(root, 'recipes', 'my-model.yaml')], root);
  const recipe = result!.recipe as Recipe;
  assert.ok(recipe, JSON.stringify(result!.problems));
  assertPinnedPackageWeights(recipe, root);
  assertLicenseText(recipe, root);
  assertEveryTargetOrSkipped(recipe);
  await assertSamples(recipe, root);
});

test('check catches the mistakes the rules are for: a range that is not the preprocessed pixels, a name not in the graph', () => {
  const project = mkdtempSync(path.join(tmpdir(), 'edgezoo-readme-broken-'));
  try {
    for (const dir of ['artifacts', 'models']) spawnSync('cp', ['-r', path.join(root, dir), project]);
    mkdirSync(path.join(project, 'recipes'));
    const recipe = readFileSync(path.join(root, 'recipes', 'my-model.yaml'), 'utf8')
      .replace('range: [-2.118, 2.64]', 'range: [0, 1]')
      .replace('{ name: logits, classifier: true }', '{ name: logit, classifier: true }');
    writeFileSync(path.join(project, 'recipes', 'my-model.yaml'), recipe);
    const lines = recipe.split('\n');
    const at = (needle: string) => {
      const line = lines.findIndex((l) => l.includes(needle));
      return `${line + 1}:${lines[line]!.indexOf(needle) + 1}`;
    };
    const result = check(project);
    assert.equal(result.status, 1);
    assert.equal(
      result.stdout,
      [
        `recipes/my-model.yaml:${at('[0, 1]')}: inputs[0].range: range [0, 1] is not what preprocess makes of image pixels: (0..255 * 0.00392156862745098 - mean) / std gives [-2.118, 2.64]; set range: [-2.118, 2.64], or change preprocess`,
        '1 problem in 1 recipe',
        '',
      ].join('\n'),
    );
    // With the range fixed, the output name is checked against the cached source model.
    writeFileSync(
      path.join(project, 'recipes', 'my-model.yaml'),
      recipe.replace('range: [0, 1]', 'range: [-2.118, 2.64]'),
    );
    const graph = check(project);
    assert.equal(graph.status, 1);
    assert.equal(
      graph.stdout,
      [
        `recipes/my-model.yaml:${at('logit,')}: outputs[0].name: "logit" is not an output of the downloaded source model (did you mean "logits"?); its outputs: logits`,
        '1 problem in 1 recipe',
        '',
      ].join('\n'),
    );
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
});
