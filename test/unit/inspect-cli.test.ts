import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { encodeModel } from '../../src/formats/onnx/index.js';
import { convNet } from './onnx-fixtures.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-inspect-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const cli = path.resolve(import.meta.dirname, '../../src/cli/edgezoo.mjs');

/** Runs the real CLI in a child process and captures what it prints. */
function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

test('edgezoo inspect prints a human summary of an ONNX file', async () => {
  const file = path.join(dir, 'net.onnx');
  writeFileSync(file, encodeModel(convNet()));
  const { code, stdout } = await run(['inspect', file]);
  assert.equal(code, 0);
  assert.match(stdout, /^ONNX model, IR version 8, opsets: ai\.onnx 17$/m);
  assert.match(stdout, /^ {2}x: float32 \[batch, 3, 8, 8\] \(likely NCHW\)$/m);
  assert.match(stdout, /^parameters: 123 \(492 B\)$/m);
  assert.match(stdout, /^dynamic inputs: x$/m);
});

test('edgezoo inspect --json prints the summary for machines, found by content without extension', async () => {
  const file = path.join(dir, 'model.bin');
  writeFileSync(file, encodeModel(convNet()));
  const { code, stdout } = await run(['inspect', file, '--json']);
  assert.equal(code, 0);
  const summary = JSON.parse(stdout);
  assert.equal(summary.format, 'onnx');
  assert.deepEqual(summary.inputs[0].shape, ['batch', 3, 8, 8]);
  assert.equal(summary.ops.Conv, 1);
  assert.equal(summary.flags.quantization, 'float32');
});

test('edgezoo inspect on a corrupt, unknown or missing file exits 1 with a typed message', async () => {
  const corrupt = path.join(dir, 'bad.onnx');
  writeFileSync(corrupt, encodeModel(convNet()).subarray(0, 50));
  const bad = await run(['inspect', corrupt]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^edgezoo: .*\/bad\.onnx: ONNX data is truncated or corrupt/m);
  assert.doesNotMatch(bad.stderr, /at .*\.ts:/);
  const unknown = path.join(dir, 'notes.txt');
  writeFileSync(unknown, 'hello');
  const other = await run(['inspect', unknown]);
  assert.equal(other.code, 1);
  assert.match(other.stderr, /notes\.txt is not a model format edgezoo knows \(onnx, tflite, openvino\)/);
  const missing = await run(['inspect', path.join(dir, 'nope.onnx')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope\.onnx does not exist/);
  const usage = await run(['inspect']);
  assert.equal(usage.code, 2);
});
