/**
 * The conformance benchmark on a CI-sized sample of the onnx node tests, through the real CLI
 * and converters: one case of each kind it must tell apart (passes everywhere, a TFLite artifact
 * that needs Flex, an op with no TFLite kernel, a multi-output case validation binds wrongly,
 * weights fed as inputs, cases a recipe cannot express, one onnxruntime does not reproduce, one
 * out of scope). When a fix lands for a known failure, its expectation here changes with it.
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
  'sinh',
  'asin',
  'split_equal_parts_1d_opset18',
  'conv_with_strides_padding',
  'clip_example',
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

    assert.deepEqual(report.counts, { outOfScope: 1, ortMismatch: 1, inexpressible: 2, built: 5 });
    assert.equal(byCase.get('add_int8')?.status, 'out-of-scope');
    assert.equal(byCase.get('attention_3d_gqa')?.status, 'ort-mismatch');
    assert.equal(byCase.get('clip_example')?.reason, 'scalar input (shape: [])');
    assert.match(byCase.get('reduce_sum_default_axes_keepdims_example')?.reason ?? '', /^int64 input/);

    for (const t of ['tflite/fp32', 'openvino/fp32', 'onnx/fp16']) assert.equal(target('abs', t)?.passed, true, t);
    // Every case but the Conv with runtime weights builds for OpenVINO and fp16 ONNX.
    for (const name of ['sinh', 'asin', 'split_equal_parts_1d_opset18']) {
      assert.equal(target(name, 'openvino/fp32')?.passed, true, name);
      assert.equal(target(name, 'onnx/fp16')?.passed, true, name);
    }
    assert.equal(target('sinh', 'tflite/fp32')?.category, 'tflite: needs Flex ops');
    assert.deepEqual(target('sinh', 'tflite/fp32')?.flexOps, ['FlexSinh']);
    assert.equal(target('asin', 'tflite/fp32')?.category, 'tflite: op has no builtin or Flex kernel');
    assert.match(target('asin', 'tflite/fp32')?.reason ?? '', /'tf\.Asin' op is neither a custom op nor a flex op/);
    // The values are right but in another output order (onnx2tf's PartitionedCall:2, :0, :1).
    assert.equal(target('split_equal_parts_1d_opset18', 'tflite/fp32')?.category, 'validation: wrong numbers');
    assert.deepEqual(byCase.get('conv_with_strides_padding')?.parameterInputs, ['W']);
    assert.equal(
      target('conv_with_strides_padding', 'tflite/fp32')?.category,
      'weights or resize scales fed as graph inputs',
    );

    assert.deepEqual(
      { passed: report.perTarget['tflite/fp32']?.passed, total: report.perTarget['tflite/fp32']?.total },
      { passed: 1, total: 5 },
    );
    assert.equal(report.perTargetCategories['tflite/fp32']?.['tflite: needs Flex ops'], 1);

    // A second run reuses the project's build cache, and the text report names every failure.
    const again = await conformance(out);
    assert.match(again.stdout, /^tflite\/fp32 +1\/5 +20\.0 %/m);
    assert.match(again.stdout, /^ {2}test_sinh tflite\/fp32 \[tflite: needs Flex ops\]: needs Flex ops: FlexSinh$/m);
    assert.match(again.stdout, /not expressible: scalar input \(shape: \[\]\): 1/);
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
