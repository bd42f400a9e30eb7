// The ONNX quantization search ranks activations in the tf worker by their own quantization
// error (SQNR of the float values quantised with the full quantization's scales): quantize a
// small two-conv model, then ask for the ranking, with what keeps each activation float (its
// producer and consumers) and the output head (back to the last Conv).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { buildModel, encodeModel } from '../../src/formats/onnx/index.js';
import { PythonWorker } from '../../src/toolchain/worker.js';
import { writeNpy } from '../../src/validate/npy.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-quant-rank-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function seeded(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 1073741824 - 1;
  });
}

test('quant.onnx_rank ranks every activation of a quantized model, worst first', async () => {
  const model = path.join(tmp, 'float.onnx');
  writeFileSync(
    model,
    encodeModel(
      buildModel({
        inputs: [{ name: 'x', shape: [1, 3, 8, 8] }],
        outputs: [{ name: 'z', shape: [1, 4, 8, 8] }],
        nodes: [
          { op: 'Conv', inputs: ['x', 'w1'], outputs: ['y'], name: 'conv1', attributes: { pads: [1, 1, 1, 1] } },
          { op: 'Sigmoid', inputs: ['y'], outputs: ['s'], name: 'sigmoid1' },
          { op: 'Conv', inputs: ['s', 'w2'], outputs: ['z'], name: 'conv2', attributes: { pads: [1, 1, 1, 1] } },
        ],
        initializers: [
          { name: 'w1', data: seeded(4 * 3 * 9, 1), dims: [4, 3, 3, 3] },
          { name: 'w2', data: seeded(4 * 4 * 9, 2), dims: [4, 4, 3, 3] },
        ],
        opset: 13,
        irVersion: 8,
      }),
    ),
  );
  const npy = path.join(tmp, 'x.npy');
  await writeNpy(npy, { dtype: 'float32', dims: [8, 3, 8, 8], data: seeded(8 * 3 * 64, 3) });
  const calibration = [{ name: 'x', npy, batchAxis: 0 }];
  const worker = new PythonWorker('tf');
  try {
    const pre = path.join(tmp, 'pre.onnx');
    const qdq = path.join(tmp, 'qdq.onnx');
    await worker.request('quant.onnx_static', { model, output: qdq, calibration, preprocessedOutput: pre });
    const ranking = await worker.request('quant.onnx_rank', { floatModel: pre, qdqModel: qdq, calibration });
    assert.ok(ranking.layers.length >= 2, JSON.stringify(ranking));
    const byTensor = Object.fromEntries(ranking.layers.map((layer) => [layer.tensor, layer]));
    // The input has no producer; its consumer keeps it float.
    assert.deepEqual([byTensor.x?.node, byTensor.x?.opType, byTensor.x?.keep], ['', 'input', ['conv1']]);
    assert.deepEqual(byTensor.z?.keep, ['conv2']);
    for (const layer of ranking.layers) {
      assert.ok(['', 'conv1', 'sigmoid1', 'conv2'].includes(layer.node), layer.node);
      assert.ok(typeof layer.sqnr === 'number' && layer.sqnr > 0, JSON.stringify(layer));
    }
    assert.deepEqual(ranking.heads, ['conv2']);
    const scores = ranking.layers.map((layer) => layer.score);
    assert.deepEqual(
      scores,
      [...scores].sort((a, b) => b - a),
    );
  } finally {
    await worker.stop();
  }
});
