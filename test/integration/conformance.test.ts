/**
 * The conformance benchmark on a CI-sized sample of the onnx node tests, through the real CLI
 * and converters: one case of each kind it must tell apart (passes everywhere, a TFLite artifact
 * that needs Flex, an op the pseudo-op strategy rewrites, a multi-output case whose outputs only
 * the numbers pair, weights fed as inputs (folded as value: constants), scalar inputs (Clip's bounds fed at run time), a case a
 * recipe cannot express, one onnxruntime does not reproduce, one out of scope). When a fix lands for a known failure, its expectation here changes with it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { CaseResult, ConformanceReport } from '../../scripts/conformance.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SCRIPT = path.join(here, '..', '..', 'scripts', 'conformance.ts');
const run = promisify(execFile);

const CASES = [
  'abs',
  'averagepool_3d_default',
  'asin',
  'split_equal_parts_1d_opset18',
  'conv_with_strides_padding',
  'clip_example',
  'resize_upsample_sizes_nearest_axes_2_3',
  'reduce_sum_default_axes_keepdims_example',
  'attention_3d_gqa',
  'add_int8',
];

async function conformance(out: string, ...args: string[]) {
  return run(
    process.execPath,
    ['--import', 'tsx', SCRIPT, '--filter', `^test_(${CASES.join('|')})$`, '--out', out, ...args],
    { maxBuffer: 64 * 1024 * 1024 },
  );
}

test('conformance sample: pass rates, failure categories and the cases it does not build', async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-conformance-'));
  try {
    const { stdout } = await conformance(out, '--json');
    const report = JSON.parse(stdout) as ConformanceReport;
    const byCase = new Map<string, CaseResult>(report.cases.map((c) => [c.case.replace(/^test_/, ''), c]));
    const target = (name: string, t: string) => byCase.get(name)?.targets.find((r) => r.target === t);

    assert.deepEqual(report.counts, { outOfScope: 1, ortMismatch: 1, inexpressible: 1, built: 7 });
    assert.equal(byCase.get('add_int8')?.status, 'out-of-scope');
    assert.equal(byCase.get('attention_3d_gqa')?.status, 'ort-mismatch');
    // Its axes input is an empty int64 tensor: nothing a recipe value can hold.
    assert.equal(byCase.get('reduce_sum_default_axes_keepdims_example')?.reason, 'zero-size or symbolic input dim');

    for (const t of ['tflite/fp32', 'openvino/fp32', 'onnx/fp16']) assert.equal(target('abs', t)?.passed, true, t);
    // Scalar inputs are fed (clip_example's min and max); the Conv weights given as a graph input
    // become a value: constant, as a real model has them.
    for (const name of [
      'averagepool_3d_default',
      'asin',
      'split_equal_parts_1d_opset18',
      'conv_with_strides_padding',
      'clip_example',
      // onnxslim's shape inference stops on this Resize (IndexError): prepare slims it without.
      'resize_upsample_sizes_nearest_axes_2_3',
    ]) {
      assert.equal(target(name, 'openvino/fp32')?.passed, true, name);
      assert.equal(target(name, 'onnx/fp16')?.passed, true, name);
    }
    assert.deepEqual(byCase.get('conv_with_strides_padding')?.parameterInputs, ['W']);
    assert.equal(target('conv_with_strides_padding', 'tflite/fp32')?.passed, true);
    // Every strategy of the cascade still needs FlexAvgPool3D: rejected, builtin-only by default.
    assert.equal(target('averagepool_3d_default', 'tflite/fp32')?.category, 'tflite: needs Flex ops');
    // Asin has no TFLite kernel; the builtin-math strategy rewrites it into Atan (ATAN2 through
    // -rtpo), exact at 0 where onnx2tf's own pseudo Asin gave NaN.
    assert.equal(target('asin', 'tflite/fp32')?.passed, true);
    // onnx2tf names the three Split outputs output_3, output_3_1, output_3_2: validation pairs them by their numbers.
    assert.equal(target('split_equal_parts_1d_opset18', 'tflite/fp32')?.passed, true);
    // Its min and max are fed at run time: the clip-bounds correction makes them Max and Min.
    assert.equal(target('clip_example', 'tflite/fp32')?.passed, true);

    assert.deepEqual(
      { passed: report.perTarget['tflite/fp32']?.passed, total: report.perTarget['tflite/fp32']?.total },
      { passed: 6, total: 7 },
    );
    assert.equal(report.perTargetCategories['tflite/fp32']?.['tflite: needs Flex ops'], 1);
    // onnx2tf's tf.image.resize stops on a Resize over axes [2, 3]; resize-matmul converts it.
    assert.equal(target('resize_upsample_sizes_nearest_axes_2_3', 'tflite/fp32')?.passed, true);

    // A second run reuses the project's build cache, and the text report names every failure.
    const again = await conformance(out);
    assert.match(again.stdout, /^tflite\/fp32 +6\/7 +85\.7 %/m);
    assert.match(
      again.stdout,
      /^ {2}test_averagepool_3d_default tflite\/fp32 \[tflite: needs Flex ops\]: conversion failed: ops FlexAvgPool3D/m,
    );
    assert.match(again.stdout, /not expressible: zero-size or symbolic input dim: 1/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('conformance: wrong usage exits 2 with the reason', async () => {
  await assert.rejects(
    run(process.execPath, ['--import', 'tsx', SCRIPT, '--targets', 'tflite/int4']),
    (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 2);
      assert.match(error.stderr, /unknown target "tflite\/int4"/);
      return true;
    },
  );
});
