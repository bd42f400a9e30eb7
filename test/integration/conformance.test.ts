/**
 * The conformance benchmark on a CI-sized sample of the onnx node tests, through the real CLI
 * and converters: one case of each kind it must tell apart (passes everywhere, a TFLite artifact
 * that needs Flex, a multi-output case whose outputs only the numbers pair, weights fed as inputs
 * (folded as value: constants), scalar inputs (Clip's bounds fed at run time), a case a recipe
 * cannot express, one onnxruntime does not reproduce, one out of scope), and a small case that
 * needs each strategy of the cascades, checked by the strategy that made its artifact. When a
 * fix lands for a known failure, its expectation here changes with it.
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

/** Cases the default conversion gets wrong, each with the strategy that converts it: target, converter strategy. */
const NEEDS: Record<string, [string, string]> = {
  // FlexAvgPool3D by default: Pad, strided Slices and Add, axis by axis.
  averagepool_3d_default: ['tflite/fp32', 'onnx2tf pools-as-slices'],
  // Asin has no TFLite kernel: rewritten into Atan (ATAN2 through -rtpo), exact at 0 where
  // onnx2tf's own pseudo Asin gave NaN.
  asin: ['tflite/fp32', 'onnx2tf builtin-math'],
  // onnx2tf's tf.image.resize stops on a Resize over axes [2, 3].
  resize_upsample_sizes_nearest_axes_2_3: ['tflite/fp32', 'onnx2tf resize-matmul'],
  // LayerNormalization over axis 0 of a 2-D input: onnx2tf's own lowering is off, the function body is right.
  layer_normalization_2d_axis0: ['tflite/fp32', 'onnx2tf expand-functions'],
  // ... over axis 0 of a 3-D input: the body, with the input's shape kept (-kat).
  layer_normalization_3d_axis0_epsilon: ['tflite/fp32', 'onnx2tf expand-functions-keep-all-shapes'],
  // A 4-D input that is not an image, normalised over its last axis: moving channels last misplaces it.
  rms_normalization_4d_axis_negative_1: ['tflite/fp32', 'onnx2tf keep-all-shapes'],
  // A 1-D ConvTranspose: onnx2tf transposes the [N, C, W] input itself (-k).
  convtranspose_1d: ['tflite/fp32', 'onnx2tf channels-first-inputs'],
  // ovc keeps a ceil_mode MaxPool window that starts in the padding; onnxruntime drops it.
  maxpool_2d_ceil_output_size_reduce_by_one: ['openvino/fp32', 'ovc pools-as-slices'],
  // ovc cannot convert NegativeLogLikelihoodLoss with an ignore_index; its function body converts.
  nllloss_NCd1_ii: ['openvino/fp32', 'ovc expand-functions'],
};

const CASES = [
  ...Object.keys(NEEDS),
  'abs',
  'det_2d',
  'split_equal_parts_1d_opset18',
  'conv_with_strides_padding',
  'clip_example',
  'reduce_sum_default_axes_keepdims_example',
  'attention_3d_gqa',
  'add_int8',
  'scatter_elements_with_duplicate_indices',
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

    assert.deepEqual(report.counts, { outOfScope: 1, ortMismatch: 1, inexpressible: 1, built: 15 });
    assert.equal(byCase.get('add_int8')?.status, 'out-of-scope');
    assert.equal(byCase.get('attention_3d_gqa')?.status, 'ort-mismatch');
    // Its axes input is an empty int64 tensor: nothing a recipe value can hold.
    assert.equal(byCase.get('reduce_sum_default_axes_keepdims_example')?.reason, 'zero-size or symbolic input dim');

    for (const t of ['tflite/fp32', 'openvino/fp32', 'onnx/fp16']) {
      assert.equal(target('abs', t)?.passed, true, t);
      assert.match(target('abs', t)?.strategy ?? '', / default$/, `abs ${t}: the first strategy`);
    }
    // Each strategy on a case that needs it: the default failed there, this one made the artifact.
    for (const [name, [t, strategy]] of Object.entries(NEEDS)) {
      assert.equal(target(name, t)?.passed, true, `${name} ${t}`);
      assert.equal(target(name, t)?.strategy, strategy, `${name} ${t}`);
    }
    // Scalar inputs are fed (clip_example's min and max); the Conv weights given as a graph input
    // become a value: constant, as a real model has them.
    for (const name of [
      'split_equal_parts_1d_opset18',
      'conv_with_strides_padding',
      'clip_example',
      // onnxslim's shape inference stops on this Resize (IndexError): prepare slims it without.
      'resize_upsample_sizes_nearest_axes_2_3',
    ]) {
      assert.equal(target(name, 'openvino/fp32')?.passed, true, name);
      assert.equal(target(name, 'onnx/fp16')?.passed, true, name);
      assert.equal(target(name, 'tflite/fp32')?.passed, true, name);
    }
    assert.deepEqual(byCase.get('conv_with_strides_padding')?.parameterInputs, ['W']);
    // A ScatterElements reduction (add, over a duplicate index; constant indices): onnx2tf stops
    // on it, the scatter-reductions correction before every run makes it Gathers and Adds.
    const scatter = target('scatter_elements_with_duplicate_indices', 'tflite/fp32');
    assert.equal(scatter?.passed, true);
    assert.equal(scatter?.strategy, 'onnx2tf default');
    // onnx2tf names the three Split outputs output_3, output_3_1, output_3_2: validation pairs them
    // by their numbers. clip_example's min and max are fed at run time: the clip-bounds correction
    // makes them Max and Min.

    // Det has no TFLite kernel (FlexMatrixDeterminant) and no ovc conversion: every strategy that
    // applies was tried, and the failure names them.
    const det = target('det_2d', 'tflite/fp32');
    assert.equal(det?.category, 'tflite: needs Flex ops');
    assert.equal(det?.strategiesTried?.[0], 'onnx2tf default');
    assert.ok((det?.strategiesTried?.length ?? 0) > 1, 'the cascade ran');
    assert.equal(target('det_2d', 'openvino/fp32')?.passed, false);
    assert.deepEqual(
      { passed: report.perTarget['tflite/fp32']?.passed, total: report.perTarget['tflite/fp32']?.total },
      { passed: 14, total: 15 },
    );
    assert.equal(report.perTargetCategories['tflite/fp32']?.['tflite: needs Flex ops'], 1);

    // A second run reuses the project's build cache, and the text report names every failure.
    const again = await conformance(out);
    assert.match(again.stdout, /^tflite\/fp32 +14\/15 +93\.3 %/m);
    assert.match(
      again.stdout,
      /^ {2}test_det_2d tflite\/fp32 \[tflite: needs Flex ops\]: conversion failed: ops FlexMatrixDeterminant/m,
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
