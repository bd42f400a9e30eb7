/**
 * Validation through the real CLI must fail, with the right metric, for artifacts that are
 * wrong in known ways, and pass the correct ones; a failed artifact never reaches index.json
 * and the build exits 1. The spoiled artifacts come from real conversions altered by
 * validate-pipeline-runners.ts (see there); the badly calibrated int8 model is a real
 * conversion with calibration samples from a very different range.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { readNpy, writeNpy } from '../../src/validate/index.js';
import { makeTinyCnnProject, readJson, runCliWithRunners, tinyCnnRecipe, writeRecipe } from './pipeline-project.js';

const spoilers = path.join(path.dirname(fileURLToPath(import.meta.url)), 'validate-pipeline-runners.ts');
let root = '';
let build: { code: number | null; stdout: string; stderr: string };

/** A module with two outputs of equal shape and different values, seeded (no weights file). */
const TWO_OUTPUT_MODEL = `import torch
from torch import nn


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.a = nn.Linear(8, 4)
        self.b = nn.Linear(8, 4)

    def forward(self, x):
        features = torch.relu(self.conv(x)).mean(dim=(2, 3))
        return self.a(features), self.b(features) * 3.0


def build():
    torch.manual_seed(0)
    return TwoHeads()
`;

before(async () => {
  const project = await makeTinyCnnProject('edgezoo-validate-pipeline-');
  root = project.root;
  const sha = project.weightsSha256;
  await writeRecipe(root, 'tiny-weights', tinyCnnRecipe('tiny-weights', sha, '  onnx: [fp32]\n  tflite: [fp32]'));
  // Each model also has a target that passes: a version where nothing passes is not written at all.
  await writeRecipe(root, 'tiny-layout', tinyCnnRecipe('tiny-layout', sha, '  onnx: [fp32]\n  tflite: [fp32]'));
  await writeRecipe(
    root,
    'tiny-badcal',
    tinyCnnRecipe('tiny-badcal', sha, '  onnx: [fp32]\n  tflite: [int8]').replace(
      'models/tiny-cnn/calib/*.npy',
      'models/tiny-cnn/calib-dark/*.npy',
    ),
  );
  await writeRecipe(
    root,
    'tiny-synthetic',
    tinyCnnRecipe('tiny-synthetic', sha, '  onnx: [fp32]').replace(
      'validation: { samples: models/tiny-cnn/val/*.npy, count: 40, topk: 2 }',
      'validation: { count: 8, seed: 3 }',
    ),
  );
  // Calibration samples 100 times darker than anything validated: int8 ranges fit [0, 0.01].
  const calib = path.join(root, 'models', 'tiny-cnn', 'calib');
  const dark = path.join(root, 'models', 'tiny-cnn', 'calib-dark');
  await mkdir(dark);
  for (const name of await readdir(calib)) {
    const tensor = await readNpy(path.join(calib, name));
    await writeNpy(path.join(dark, name), {
      ...tensor,
      data: Float32Array.from(tensor.data as Float32Array, (value) => value * 0.01),
    });
  }
  await mkdir(path.join(root, 'models', 'two-out'));
  await writeFile(path.join(root, 'models', 'two-out', 'model.py'), TWO_OUTPUT_MODEL);
  await writeRecipe(
    root,
    'two-out-swap',
    [
      'name: two-out-swap',
      'version: 1.0.0',
      'license: Apache-2.0',
      'description: Two outputs whose names the artifact swaps.',
      'task: other',
      'source:',
      '  pytorch: { factory: models/two-out/model.py:build }',
      'inputs:',
      '  - { name: input, shape: [1, 3, 16, 16], layout: NCHW, range: [0, 1] }',
      'outputs:',
      '  - { name: a }',
      '  - { name: b }',
      'validation: { count: 8 }',
      'opset: 18',
      'targets:',
      '  onnx: [fp32]',
      '  openvino: [fp32]',
      '',
    ].join('\n'),
  );
  build = await runCliWithRunners(root, spoilers, ['build', '--all']);
});

after(async () => {
  if (root && !process.env.EDGEZOO_KEEP_TEST_PROJECT) await rm(root, { recursive: true, force: true });
});

async function manifestOf(model: string) {
  return readJson(path.join(root, 'artifacts', 'zoo', model, '1.0.0', 'manifest.json'));
}

function failedReason(manifest: any, target: string): string {
  const entry = manifest.failed.find((f: any) => `${f.format}/${f.precision}` === target);
  assert.ok(entry, `${target} is not listed as failed in ${manifest.name}: ${JSON.stringify(manifest.failed)}`);
  return entry.reason;
}

test('the build exits 1 and names every failed validation', () => {
  assert.equal(build.code, 1, `${build.stdout}\n${build.stderr}`);
  for (const step of [
    'tiny-weights/validate/onnx/fp32',
    'tiny-layout/validate/tflite/fp32',
    'tiny-badcal/validate/tflite/int8',
    'two-out-swap/validate/onnx/fp32',
  ]) {
    assert.match(build.stdout, new RegExp(`failed: ${step}: `), step);
  }
});

test('weights perturbed: max abs error beyond fp32 tolerance, while the correct TFLite artifact passes', async () => {
  const manifest = await manifestOf('tiny-weights');
  assert.match(
    failedReason(manifest, 'onnx/fp32'),
    /^output 'logits': max abs error \S+ exceeds the allowed \S+ \(atol 0\.0001 \+ rtol 0\.001 × max\|reference\| \S+\)/,
  );
  assert.deepEqual(
    manifest.artifacts.map((a: any) => `${a.format}/${a.precision}`),
    ['tflite/fp32'],
  );
  assert.ok(manifest.artifacts[0].validation.metrics.logits.maxAbs <= 1e-4);
});

test('layout wrong: NCHW recorded for an NHWC TFLite input cannot take the samples', async () => {
  const manifest = await manifestOf('tiny-layout');
  assert.match(
    failedReason(manifest, 'tflite/fp32'),
    /^the artifact cannot take the validation samples: input 'input': the sample's shape \[1, 3, 32, 32\] \(layout NCHW\) does not fit the artifact's input '\S+' \[1, 32, 32, 3\]$/,
  );
  assert.deepEqual(
    manifest.artifacts.map((a: any) => `${a.format}/${a.precision}`),
    ['onnx/fp32'],
  );
});

test('outputs swapped: each named output is compared with the other one and fails', async () => {
  const manifest = await manifestOf('two-out-swap');
  const reason = failedReason(manifest, 'onnx/fp32');
  assert.match(reason, /output 'a': max abs error .* exceeds the allowed/);
  assert.match(reason, /output 'b': max abs error .* exceeds the allowed/);
});

test('int8 calibrated on a very different range: cosine (and agreement) fail', async () => {
  const manifest = await manifestOf('tiny-badcal');
  assert.match(
    failedReason(manifest, 'tflite/int8'),
    /output 'logits': cosine similarity \S+ is below the minimum 0\.98/,
  );
  const validation = manifest.failed.find((f: any) => f.format === 'tflite').validation;
  assert.equal(validation.status, 'failed');
  assert.ok(validation.metrics.logits.cosine < 0.98);
});

test('seeded random inputs pass and the card says the artifact was validated on synthetic inputs', async () => {
  const manifest = await manifestOf('tiny-synthetic');
  assert.equal(manifest.artifacts[0].validation.synthetic, true);
  assert.equal(manifest.artifacts[0].validation.samples, 8);
  const card = await readFile(path.join(root, 'artifacts', 'zoo', 'tiny-synthetic', '1.0.0', 'README.md'), 'utf8');
  assert.match(card, /on 8 validation samples \(synthetic: seeded random inputs\)\./);
});

test('a failed artifact is never in index.json; it is listed as failed without a url', async () => {
  const index = await readJson(path.join(root, 'artifacts', 'zoo', 'index.json'));
  const listed = index.models
    .flatMap((model: any) => model.versions[0].artifacts.map((a: any) => `${model.name}:${a.format}/${a.precision}`))
    .sort();
  assert.deepEqual(listed, [
    'tiny-badcal:onnx/fp32',
    'tiny-layout:onnx/fp32',
    'tiny-synthetic:onnx/fp32',
    'tiny-weights:tflite/fp32',
    'two-out-swap:openvino/fp32',
  ]);
  const failed = index.models
    .flatMap((model: any) => model.versions[0].failed.map((f: any) => `${model.name}:${f.format}/${f.precision}`))
    .sort();
  assert.deepEqual(failed, [
    'tiny-badcal:tflite/int8',
    'tiny-layout:tflite/fp32',
    'tiny-weights:onnx/fp32',
    'two-out-swap:onnx/fp32',
  ]);
  for (const model of index.models) for (const entry of model.versions[0].failed) assert.equal(entry.url, undefined);
});

test('--diagnose names the first diverging op of the failed ONNX artifact and says why a TFLite artifact with a wrong contract cannot be run', {
  timeout: 3 * 60_000,
}, async () => {
  const diagnosed = await runCliWithRunners(root, spoilers, ['build', 'tiny-weights', 'tiny-layout', '--diagnose']);
  assert.equal(diagnosed.code, 1);
  assert.match(
    diagnosed.stdout,
    /diagnose tiny-weights\/validate\/onnx\/fp32: first diverging op: Conv node '[^']+' \(tensor '[^']+' \[1, 16, 32, 32\]\): max abs error/,
  );
  assert.match(
    diagnosed.stdout,
    /diagnose tiny-layout\/validate\/tflite\/fp32: could not diagnose: input 'input': the sample's shape \[1, 3, 32, 32\] \(layout NCHW\) does not fit/,
  );
});
