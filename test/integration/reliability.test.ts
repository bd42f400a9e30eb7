/**
 * The probe cases of issue 16 that need the converters (the others are in
 * test/unit/reliability.test.ts): an ONNX source whose weights live in external data files is
 * built end to end by the real CLI, its data fetched beside the model and checked by sha256.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { saveModel } from '../../src/formats/onnx/index.js';
import { convNet } from '../unit/onnx-fixtures.js';
import { readJson, runCli, sha256Of } from './pipeline-project.js';

test('an ONNX source with external data builds into validated ONNX, TFLite and OpenVINO artifacts', {
  timeout: 5 * 60_000,
}, async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'edgezoo-external-'));
  t.after(() => {
    if (!process.env.EDGEZOO_KEEP_TEST_PROJECT) rmSync(root, { recursive: true, force: true });
  });
  const models = path.join(root, 'models', 'ext-data');
  mkdirSync(models, { recursive: true });
  mkdirSync(path.join(root, 'recipes'));
  // Every initializer of 16 bytes or more goes to model.onnx.data: the .onnx alone cannot run.
  const saved = saveModel(convNet(), path.join(models, 'model.onnx'), { externalData: { sizeThreshold: 16 } });
  assert.ok((saved.externalDataBytes ?? 0) > 400);
  const dataSize = readFileSync(path.join(models, 'model.onnx.data')).length;
  writeFileSync(
    path.join(root, 'recipes', 'ext-data.yaml'),
    [
      'name: ext-data',
      'version: 1.0.0',
      'license: MIT',
      'description: A small CNN whose weights are ONNX external data.',
      'task: other',
      'source:',
      '  onnx:',
      '    path: models/ext-data/model.onnx',
      `    sha256: ${await sha256Of(path.join(models, 'model.onnx'))}`,
      '    external_data:',
      `      - { name: model.onnx.data, path: models/ext-data/model.onnx.data, size: ${dataSize}, sha256: ${await sha256Of(path.join(models, 'model.onnx.data'))} }`,
      'inputs:',
      '  - { name: x, shape: [1, 3, 8, 8], layout: NCHW, range: [0, 1] }',
      'validation: { count: 4 }',
      'targets: { onnx: [fp32], tflite: [fp32], openvino: [fp32] }',
      '',
    ].join('\n'),
  );
  const built = await runCli(root, ['build', 'ext-data']);
  assert.equal(built.code, 0, `build failed:\n${built.stdout}\n${built.stderr}`);
  const manifest = await readJson(path.join(root, 'artifacts', 'zoo', 'ext-data', '1.0.0', 'manifest.json'));
  const targets = manifest.artifacts.map((a: { format: string; precision: string }) => `${a.format}/${a.precision}`);
  assert.deepEqual(targets.sort(), ['onnx/fp32', 'openvino/fp32', 'tflite/fp32']);
  assert.deepEqual(manifest.failed, []);
  for (const artifact of manifest.artifacts)
    assert.ok(
      artifact.validation.metrics.y.maxAbs <= 1e-4,
      `${artifact.format}: ${artifact.validation.metrics.y.maxAbs}`,
    );
  const fetchLog = readFileSync(path.join(root, 'artifacts', 'logs', 'ext-data', 'fetch.log'), 'utf8');
  assert.match(
    fetchLog,
    new RegExp(`fetched external data model\\.onnx\\.data: ${dataSize} bytes, sha256 [0-9a-f]{64}`),
  );
});
