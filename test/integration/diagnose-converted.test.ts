/**
 * `--diagnose` on TFLite and OpenVINO artifacts, through the real CLI, converters and runtimes,
 * on two onnx backend node tests that the converters get wrong (from the onnx package of the tf
 * env): linear Resize, which onnx2tf computes with other sampling positions, and MaxPool with
 * ceil_mode whose last window starts in the padding, where OpenVINO makes one more output row.
 * LiteRT keeps every intermediate tensor, OpenVINO gets each as an output, and the tensors are
 * paired with the prepared ONNX model's by their numbers.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { envDef } from '../../src/toolchain/envs.js';
import { runCli, sha256Of, writeRecipe } from './pipeline-project.js';

const NODE_TESTS = path.join(
  envDef('tf').dir,
  'lib',
  'python3.11',
  'site-packages',
  'onnx',
  'backend',
  'test',
  'data',
  'node',
);

async function nodeTestRecipe(root: string, name: string, testCase: string, inputs: string[], targets: string) {
  const folder = path.join(root, 'models', name);
  await mkdir(folder, { recursive: true });
  await copyFile(path.join(NODE_TESTS, testCase, 'model.onnx'), path.join(folder, 'model.onnx'));
  await writeRecipe(
    root,
    name,
    [
      `name: ${name}`,
      'version: 1.0.0',
      'license: Apache-2.0',
      `description: ONNX backend node test ${testCase}.`,
      'task: test',
      'source:',
      '  onnx:',
      `    path: models/${name}/model.onnx`,
      `    sha256: ${await sha256Of(path.join(folder, 'model.onnx'))}`,
      'inputs:',
      ...inputs.map((line) => `  - ${line}`),
      'validation: { count: 2 }',
      'targets:',
      targets,
      '',
    ].join('\n'),
  );
}

test('--diagnose names the first diverging op of failed TFLite and OpenVINO artifacts', {
  timeout: 5 * 60_000,
}, async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-diagnose-'));
  try {
    await mkdir(path.join(root, 'recipes'));
    await nodeTestRecipe(
      root,
      'resize-linear',
      'test_resize_downsample_scales_linear',
      ['{ name: X, shape: [1, 1, 2, 4], range: [-1, 1] }', '{ name: scales, shape: [4], value: [1, 1, 0.6, 0.6] }'],
      // onnx2tf's default strategy gets linear Resize wrong (the resize-matmul strategy fixes it):
      // pinned, so there is a failed artifact to diagnose.
      '  tflite: [fp32]\nstrategies: { tflite: [default] }',
    );
    await nodeTestRecipe(
      root,
      'maxpool-ceil',
      'test_maxpool_2d_ceil_output_size_reduce_by_one',
      ['{ name: x, shape: [1, 1, 2, 2], range: [-1, 1] }'],
      // ovc keeps a ceil_mode window that starts in the padding (the pools-as-slices strategy
      // fixes it): pinned to the default, so there is a failed artifact to diagnose.
      '  openvino: [fp32]\nstrategies: { openvino: [default] }',
    );
    const built = await runCli(root, ['build', '--all', '--diagnose']);
    assert.equal(built.code, 1, built.stdout + built.stderr);
    assert.match(
      built.stdout,
      /diagnose resize-linear\/validate\/tflite\/fp32: first diverging op: Resize node '[^']*' \(tensor 'Y' \[1, 1, 1, 2\]\): no tensor of the artifact agrees with it/,
    );
    assert.match(
      built.stdout,
      /diagnose maxpool-ceil\/validate\/openvino\/fp32: first diverging op: MaxPool node '[^']*' \(tensor 'y' \[1, 1, 1, 1\]\): shape \[1, 1, 2, 2\] of the artifact's 'y' differs from the reference's \[1, 1, 1, 1\]/,
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
