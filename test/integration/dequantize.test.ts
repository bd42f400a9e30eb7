/**
 * `dequantize: true` (12.6a) through the real CLI: a small Conv + MatMul model quantized by
 * onnxruntime quantize_dynamic (DynamicQuantizeLinear, ConvInteger, MatMulInteger) is prepared
 * as a float model, so onnx2tf and OpenVINO get float ops; the artifacts are judged against the
 * quantized source with the recipe's tolerance for the activation quantization they no longer do.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { inspectModel, loadModel } from '../../src/formats/onnx/index.js';
import { envDef } from '../../src/toolchain/envs.js';
import { readJson, runCli, sha256Of, writeRecipe } from './pipeline-project.js';

const exec = promisify(execFile);

const MODEL_PY = `
import sys, numpy as np, onnx
from onnx import helper as h, TensorProto as T, numpy_helper as nh
from onnxruntime.quantization import quantize_dynamic, QuantType
rng = np.random.default_rng(0)
W = (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32)
B = rng.standard_normal(8).astype(np.float32)
M = (rng.standard_normal((8 * 6 * 6, 10)) * 0.1).astype(np.float32)
g = h.make_graph(
    [
        h.make_node('Conv', ['x', 'W', 'B'], ['c'], pads=[1, 1, 1, 1]),
        h.make_node('Relu', ['c'], ['r']),
        h.make_node('Reshape', ['r', 'shape'], ['f']),
        h.make_node('MatMul', ['f', 'M'], ['y']),
    ],
    'g',
    [h.make_tensor_value_info('x', T.FLOAT, [1, 3, 6, 6])],
    [h.make_tensor_value_info('y', T.FLOAT, [1, 10])],
    [nh.from_array(W, 'W'), nh.from_array(B, 'B'), nh.from_array(M, 'M'), nh.from_array(np.array([1, -1], dtype=np.int64), 'shape')],
)
m = h.make_model(g, opset_imports=[h.make_opsetid('', 17)])
m.ir_version = 8
onnx.save(m, sys.argv[1] + '.float.onnx')
quantize_dynamic(sys.argv[1] + '.float.onnx', sys.argv[1], weight_type=QuantType.QUInt8, op_types_to_quantize=['Conv', 'MatMul'])
`;

test('a dynamically quantized source is prepared as float when the recipe says dequantize: true', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-dequantize-'));
  try {
    await mkdir(path.join(root, 'recipes'));
    await mkdir(path.join(root, 'models', 'dq'), { recursive: true });
    const model = path.join(root, 'models', 'dq', 'model.onnx');
    await exec(envDef('tf').python, ['-c', MODEL_PY, model]);
    const ops = Object.keys(inspectModel(loadModel(model)).ops);
    for (const op of ['DynamicQuantizeLinear', 'ConvInteger', 'MatMulInteger']) assert.ok(ops.includes(op), op);
    await writeRecipe(
      root,
      'dq',
      [
        'name: dq',
        'version: 1.0.0',
        'license: MIT',
        'description: A dynamically quantized Conv + MatMul.',
        'task: test',
        'source:',
        '  onnx:',
        '    path: models/dq/model.onnx',
        `    sha256: ${await sha256Of(model)}`,
        'inputs:',
        '  - { name: x, shape: [1, 3, 6, 6], range: [0, 1] }',
        'dequantize: true',
        'validation: { count: 4 }',
        // The source quantizes activations at run time; the float artifacts do not.
        'tolerances: { fp32: { atol: 0.05, rtol: 0.02, cosine: 0.999 } }',
        'targets:',
        '  tflite: [fp32]',
        '  openvino: [fp32]',
        '',
      ].join('\n'),
    );
    const built = await runCli(root, ['build', 'dq']);
    assert.equal(built.code, 0, built.stdout + built.stderr);
    const manifest = await readJson(path.join(root, 'artifacts', 'zoo', 'dq', '1.0.0', 'manifest.json'));
    assert.deepEqual(manifest.artifacts.map((a: any) => `${a.format}/${a.precision}`).sort(), [
      'openvino/fp32',
      'tflite/fp32',
    ]);
    const log = await import('node:fs/promises').then((fs) =>
      fs.readFile(path.join(root, 'artifacts', 'logs', 'dq', 'prepare.log'), 'utf8'),
    );
    assert.match(log, /dequantize: 2 integer block\(s\) made float/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
