/**
 * The I/O contract of artifacts and constant recipe inputs, through the real CLI, converters and
 * runtimes, on a model written by code: a rank-3 and a rank-5 input (onnx2tf makes them
 * channel-last), a scalar int64 sample rate given as a constant (`value: 16000`) that picks an
 * `If` branch and scales an output, and outputs whose names are not in alphabetical order (the
 * TFLite ones come out as PartitionedCall:N). Every target must validate, and the manifest must
 * name the source tensor and permutation of every artifact tensor.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { envDef } from '../../src/toolchain/envs.js';
import { readJson, runCli, sha256Of, writeRecipe } from './pipeline-project.js';

const exec = promisify(execFile);

const MODEL_PY = `
import sys, onnx
from onnx import helper as h, TensorProto as T
x = h.make_tensor_value_info('x', T.FLOAT, [1, 3, 8])
vol = h.make_tensor_value_info('vol', T.FLOAT, [1, 2, 3, 4, 5])
sr = h.make_tensor_value_info('sr', T.INT64, [])
then_out = h.make_tensor_value_info('then_y', T.FLOAT, [1, 3, 8])
else_out = h.make_tensor_value_info('else_y', T.FLOAT, [1, 3, 8])
then_g = h.make_graph([h.make_node('Relu', ['x'], ['then_y'])], 'then', [], [then_out])
else_g = h.make_graph([h.make_node('Neg', ['x'], ['else_y'])], 'else', [], [else_out])
nodes = [
    h.make_node('Constant', [], ['rate'], value=h.make_tensor('rate', T.INT64, [], [16000])),
    h.make_node('Equal', ['sr', 'rate'], ['is16k']),
    h.make_node('If', ['is16k'], ['zeta'], then_branch=then_g, else_branch=else_g),
    h.make_node('Cast', ['sr'], ['srf'], to=T.FLOAT),
    h.make_node('Constant', [], ['k'], value=h.make_tensor('k', T.FLOAT, [], [1 / 32000])),
    h.make_node('Mul', ['srf', 'k'], ['half']),
    h.make_node('Sigmoid', ['x'], ['sig']),
    h.make_node('Mul', ['sig', 'half'], ['alpha']),
    h.make_node('ReduceMean', ['x'], ['mid'], axes=[1], keepdims=0),
    h.make_node('Relu', ['vol'], ['vol_out']),
]
outputs = [
    h.make_tensor_value_info('zeta', T.FLOAT, [1, 3, 8]),
    h.make_tensor_value_info('alpha', T.FLOAT, [1, 3, 8]),
    h.make_tensor_value_info('mid', T.FLOAT, [1, 8]),
    h.make_tensor_value_info('vol_out', T.FLOAT, [1, 2, 3, 4, 5]),
]
g = h.make_graph(nodes, 'contract', [x, vol, sr], outputs)
m = h.make_model(g, opset_imports=[h.make_opsetid('', 17)])
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, sys.argv[1])
`;

test('a constant scalar input is folded in, and every artifact is bound through its I/O contract', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-io-contract-'));
  try {
    await mkdir(path.join(root, 'models', 'contract'), { recursive: true });
    await mkdir(path.join(root, 'recipes'));
    const model = path.join(root, 'models', 'contract', 'model.onnx');
    await exec(envDef('tf').python, ['-c', MODEL_PY, model]);
    await writeRecipe(
      root,
      'contract',
      [
        'name: contract',
        'version: 1.0.0',
        'license: MIT',
        'description: A test model with a rank-3, a rank-5 and a constant scalar input.',
        'task: test',
        'source:',
        '  onnx:',
        '    path: models/contract/model.onnx',
        `    sha256: ${await sha256Of(model)}`,
        'inputs:',
        '  - { name: x, shape: [1, 3, 8], layout: NCW, range: [-1, 1] }',
        '  - { name: vol, shape: [1, 2, 3, 4, 5], layout: NCDHW, range: [-1, 1] }',
        '  - { name: sr, dtype: int64, shape: [], value: 16000 }',
        'validation: { count: 2 }',
        'targets:',
        '  onnx: [fp32]',
        '  tflite: [fp32]',
        '  openvino: [fp32]',
        '',
      ].join('\n'),
    );
    const check = await runCli(root, ['check']);
    assert.equal(check.code, 0, check.stdout + check.stderr);

    const build = await runCli(root, ['build', 'contract']);
    assert.equal(build.code, 0, build.stdout + build.stderr);
    const manifest = await readJson(path.join(root, 'artifacts', 'zoo', 'contract', '1.0.0', 'manifest.json'));
    assert.deepEqual(manifest.failed, []);
    const byTarget = new Map<string, any>(manifest.artifacts.map((a: any) => [`${a.format}/${a.precision}`, a]));
    assert.deepEqual([...byTarget.keys()].sort(), ['onnx/fp32', 'openvino/fp32', 'tflite/fp32']);
    for (const [target, artifact] of byTarget) {
      // The constant is in the graph: no artifact takes `sr`, and `zeta` is the Relu branch (validated).
      assert.deepEqual(
        artifact.signature.inputs.map((t: any) => t.source),
        ['x', 'vol'],
        `${target} inputs in the recipe's order`,
      );
      assert.deepEqual(
        artifact.signature.outputs.map((t: any) => t.source),
        ['zeta', 'alpha', 'mid', 'vol_out'],
        `${target} outputs in the source's order`,
      );
      assert.equal(artifact.validation.status, 'passed', target);
    }
    const tflite = byTarget.get('tflite/fp32');
    const perms = (list: any[]) => Object.fromEntries(list.map((t: any) => [t.source, t.perm]));
    // onnx2tf moves axis 1 last at ranks 3..5 (inputs whose recipe layout is channels-first; others
    // it keeps with -kat); a rank-2 output keeps its axes.
    assert.deepEqual(perms(tflite.signature.inputs), { x: [0, 2, 1], vol: [0, 2, 3, 4, 1] });
    assert.deepEqual(perms(tflite.signature.outputs), {
      zeta: [0, 2, 1],
      alpha: [0, 2, 1],
      mid: [0, 1],
      vol_out: [0, 2, 3, 4, 1],
    });
    assert.deepEqual(
      tflite.signature.inputs.map((t: any) => t.shape),
      [
        [1, 8, 3],
        [1, 3, 4, 5, 2],
      ],
    );
    assert.match(tflite.signature.outputs[0].name, /^(Stateful)?PartitionedCall:\d+$/);
    for (const t of byTarget.get('onnx/fp32').signature.outputs) assert.equal(t.name, t.source);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
