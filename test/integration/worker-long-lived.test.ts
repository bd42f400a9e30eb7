// A worker serves hundreds of ops in a long build (the conformance corpus prepares ~900 models in
// one): an op must not leave state behind that grows per call. onnxslim's colorama wrapping of
// stdout/stderr once nested per call until every later onnx.slim failed with a RecursionError.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { buildModel, encodeModel } from '../../src/formats/onnx/index.js';
import { PythonWorker } from '../../src/toolchain/worker.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-worker-long-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('onnx.slim 400 times in one worker: every call succeeds', async () => {
  const model = path.join(tmp, 'relu.onnx');
  writeFileSync(
    model,
    encodeModel(
      buildModel({
        inputs: [{ name: 'x', shape: [1, 3] }],
        outputs: [{ name: 'y', shape: [1, 3] }],
        nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
        irVersion: 8,
      }),
    ),
  );
  const worker = new PythonWorker('tf', { onLog: () => {} });
  const slim = path.join(tmp, 'slim.onnx');
  try {
    for (let i = 0; i < 400; i++) {
      rmSync(slim, { force: true });
      await worker.request('onnx.slim', { model, output: slim }).catch((error: unknown) => {
        throw new Error(`call ${i + 1}: ${(error as Error).message}`);
      });
      assert.ok(statSync(slim, { throwIfNoEntry: false })?.size, `call ${i + 1} wrote no model`);
    }
  } finally {
    await worker.stop();
  }
});
