/**
 * End to end: the tiny CNN trained into a throw-away project, built by the real CLI into ONNX,
 * TFLite and OpenVINO (fp32 and int8), validated against PyTorch, benchmarked and packaged;
 * then a rebuild that is all cache hits.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { makeTinyCnnProject, readJson, runCli, sha256Of, tinyCnnRecipe, writeRecipe } from './pipeline-project.js';

let root = '';

before(async () => {
  const project = await makeTinyCnnProject('edgezoo-pipeline-');
  root = project.root;
  await writeRecipe(
    root,
    'tiny-cnn',
    tinyCnnRecipe(
      'tiny-cnn',
      project.weightsSha256,
      '  onnx: [fp32, int8]\n  tflite: [fp32, int8]\n  openvino: [fp32]',
    ),
  );
});

after(async () => {
  if (root && !process.env.EDGEZOO_KEEP_TEST_PROJECT) await rm(root, { recursive: true, force: true });
});

test('edgezoo build turns the tiny CNN into validated, benchmarked, packaged artifacts and an index', {
  timeout: 8 * 60_000,
}, async () => {
  const built = await runCli(root, ['build', 'tiny-cnn']);
  assert.equal(built.code, 0, `build failed:\n${built.stdout}\n${built.stderr}`);
  assert.match(built.stdout, /zoo index: .*index\.json \(1 models\)/);

  const versionDir = path.join(root, 'artifacts', 'zoo', 'tiny-cnn', '1.0.0');
  const manifest = await readJson(path.join(versionDir, 'manifest.json'));
  const targets = manifest.artifacts.map((a: any) => `${a.format}/${a.precision}`).sort();
  assert.deepEqual(targets, ['onnx/fp32', 'onnx/int8', 'openvino/fp32', 'tflite/fp32', 'tflite/int8']);
  assert.deepEqual(manifest.failed, []);
  assert.equal(manifest.source.kind, 'pytorch');
  assert.match(manifest.source.sha256, /^[0-9a-f]{64}$/);
  assert.match(manifest.recipeFingerprint, /^[0-9a-f]{64}$/);

  const byTarget = new Map<string, any>(manifest.artifacts.map((a: any) => [`${a.format}/${a.precision}`, a]));
  // The goals: fp32 TFLite within 1e-4 of PyTorch; int8 keeps >= 95 % top-1 agreement.
  assert.ok(byTarget.get('tflite/fp32').validation.metrics.logits.maxAbs <= 1e-4);
  assert.ok(byTarget.get('onnx/fp32').validation.metrics.logits.maxAbs <= 1e-4);
  assert.ok(byTarget.get('openvino/fp32').validation.metrics.logits.maxAbs <= 1e-4);
  for (const target of ['tflite/int8', 'onnx/int8'])
    assert.ok(byTarget.get(target).validation.metrics.logits.top1 >= 0.95, target);
  // The TFLite artifacts are NHWC, the int8 one with quantised int8 input.
  const tfliteInt8Input = byTarget.get('tflite/int8').signature.inputs[0];
  assert.equal(tfliteInt8Input.layout, 'NHWC');
  assert.equal(tfliteInt8Input.dtype, 'int8');
  assert.ok(tfliteInt8Input.quantization.scale[0] > 0);
  for (const artifact of manifest.artifacts) {
    assert.equal(artifact.validation.status, 'passed');
    assert.equal(artifact.validation.samples, 40);
    assert.ok(
      artifact.benchmark.medianMs > 0 && artifact.benchmark.p90Ms >= artifact.benchmark.medianMs,
      JSON.stringify(artifact.benchmark),
    );
    for (const file of artifact.files) assert.equal(await sha256Of(path.join(versionDir, file.name)), file.sha256);
  }
  assert.equal(byTarget.get('openvino/fp32').files.length, 2);

  const card = await readFile(path.join(versionDir, 'README.md'), 'utf8');
  assert.match(card, /# tiny-cnn 1\.0\.0/);
  assert.match(card, /on 40 validation samples\./);
  assert.doesNotMatch(card, /synthetic/);

  const index = await readJson(path.join(root, 'artifacts', 'zoo', 'index.json'));
  const version = index.models.find((m: any) => m.name === 'tiny-cnn').versions[0];
  assert.equal(version.artifacts.length, 5);
  for (const artifact of version.artifacts) {
    assert.match(artifact.sha256, /^[0-9a-f]{64}$/);
    assert.ok(existsSync(path.join(root, 'artifacts', 'zoo', artifact.url)), artifact.url);
    assert.equal(typeof artifact.validation.metrics.logits.cosine, 'number');
  }
});

test('a rebuild with nothing changed is all cache hits and rewrites the same index', {
  timeout: 2 * 60_000,
}, async () => {
  const indexPath = path.join(root, 'artifacts', 'zoo', 'index.json');
  const before = await readFile(indexPath);
  const rebuilt = await runCli(root, ['build', 'tiny-cnn', '--json']);
  assert.equal(rebuilt.code, 0, rebuilt.stderr);
  const events = rebuilt.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  assert.equal(events.filter((event) => event.type === 'step-start').length, 0);
  assert.ok(events.filter((event) => event.type === 'step-cached').length >= 17);
  assert.deepEqual(await readFile(indexPath), before);
});
