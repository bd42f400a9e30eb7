import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { buildModel, encodeModel } from '../../src/formats/onnx/index.js';
import { buildTfliteModel } from '../../src/formats/tflite/index.js';
import type { Recipe } from '../../src/recipe/types.js';
import { envDef } from '../../src/toolchain/envs.js';
import { openWorkerSession, stopSharedWorkerPool } from '../../src/toolchain/pool.js';
import { WorkerOpError } from '../../src/toolchain/worker.js';
import {
  benchmarkModel,
  decodeNpy,
  encodeNpy,
  float32ToFloat16,
  loadSamples,
  OnnxRuntimeRunner,
  prepareFeeds,
  runReference,
  validateArtifact,
  WorkerModelRunner,
  writeNpy,
  type ModelRunner,
  type Tensor,
} from '../../src/validate/index.js';

/**
 * These tests drive the validation ops (src/toolchain/python/ops_validate.py) in the project's
 * tf environment (numpy, ai-edge-litert, openvino) through the real worker, as the validate
 * step does: a WorkerSession per runner. They skip when that environment has not been set up.
 */
const python = envDef('tf').python;
const hasEnv = existsSync(python);
const folder = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-validate-py-'));
after(async () => {
  await stopSharedWorkerPool();
  rmSync(folder, { recursive: true, force: true });
});

function recipeFor(inputs: Recipe['inputs'], outputs: Recipe['outputs'] = []): Recipe {
  return {
    name: 'py-test',
    version: '1.0.0',
    license: 'MIT',
    description: 'test',
    task: 'test',
    tags: [],
    source: { kind: 'onnx', file: { location: { kind: 'path', path: 'm.onnx' }, sha256: '0'.repeat(64) } },
    inputs,
    outputs,
    preprocess: { resize: true, channelOrder: 'rgb', scale: 1, mean: [0], std: [1] },
    validation: { samples: '', count: 8, topk: 3, seed: 11 },
    targets: {},
    skip: {},
    converters: {},
    opset: 17,
    tolerances: {},
  };
}

describe('validation ops in the worker', {
  skip: hasEnv ? false : `no Python environment at ${python} (run edgezoo setup)`,
}, () => {
  test('the ops report per-axis quantisation, time in the worker, and fail with codes', async () => {
    // A graph with no ops: its int8 input, quantised per axis, is its output.
    const model = path.join(folder, 'per-axis.tflite');
    writeFileSync(
      model,
      buildTfliteModel({
        operatorCodes: [],
        buffers: [{}, {}],
        subgraphs: [
          {
            name: 'main',
            tensors: [
              {
                name: 'x',
                dtype: 'INT8',
                shape: [1, 2],
                buffer: 1,
                quantization: { scale: [0.5, 0.25], zeroPoint: [0, 0], quantizedDimension: 1 },
              },
            ],
            inputs: [0],
            outputs: [0],
            operators: [],
          },
        ],
      }),
    );
    const session = openWorkerSession('tf');
    const loaded = await session.call('validate.load', { runtime: 'litert', model });
    // LiteRT reports one zero point for these; TypeScript gets one per scale.
    assert.deepEqual(loaded.inputs[0], {
      name: 'x',
      dims: [1, 2],
      dtype: 'int8',
      quantization: { scale: [0.5, 0.25], zeroPoint: [0, 0], axis: 1 },
    });
    const feed = path.join(folder, 'per-axis-x.npy');
    await writeNpy(feed, { dtype: 'int8', dims: [1, 2], data: Int8Array.from([7, -9]) });
    const ran = await session.call('validate.run', {
      handle: loaded.handle,
      inputs: { x: feed },
      outputDir: path.join(folder, 'per-axis-out'),
    });
    assert.deepEqual(
      ran.outputs.map((o) => [o.name, o.dims, o.dtype]),
      [['x', [1, 2], 'int8']],
    );
    assert.deepEqual([...decodeNpy(readBytes(ran.outputs[0]!.npy)).data], [7, -9]);

    const bench = await session.call('validate.benchmark', {
      handle: loaded.handle,
      inputs: { x: feed },
      warmup: 1,
      iterations: 10,
    });
    const sorted = [...bench.latenciesMs].sort((a, b) => a - b);
    assert.equal(bench.latenciesMs.length, 10);
    // Nearest-rank percentiles, as the TypeScript benchmark computes them.
    assert.equal(bench.medianMs, sorted[4]);
    assert.equal(bench.p90Ms, sorted[8]);

    const failure = async (promise: Promise<unknown>) => {
      const error = await promise.then(
        () => assert.fail('the op did not fail'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof WorkerOpError, String(error));
      return { code: error.code, message: error.message };
    };
    const int64 = path.join(folder, 'per-axis-int64.npy');
    await writeNpy(int64, { dtype: 'int64', dims: [1, 2], data: BigInt64Array.from([1n, 2n]) });
    const outputDir = path.join(folder, 'per-axis-bad');
    assert.deepEqual(
      await failure(session.call('validate.run', { handle: loaded.handle, inputs: { x: int64 }, outputDir })),
      {
        code: 'INPUT_MISMATCH',
        message: `validate.run failed in the tf worker: input 'x': the model takes int8, ${int64} holds int64`,
      },
    );
    assert.deepEqual(
      await failure(session.call('validate.run', { handle: loaded.handle, inputs: { y: feed }, outputDir })),
      {
        code: 'INPUT_MISMATCH',
        message: "validate.run failed in the tf worker: the model has no input 'y'; it has x",
      },
    );
    assert.deepEqual(await failure(session.call('validate.load', { runtime: 'tensorrt' as 'litert', model })), {
      code: 'BAD_REQUEST',
      message:
        'validate.load failed in the tf worker: bad request for validate.load: args.runtime: expected one of "litert", "openvino", "pytorch"; received "tensorrt"',
    });
    await session.call('validate.release', { handle: loaded.handle });
    assert.deepEqual(
      await failure(session.call('validate.run', { handle: loaded.handle, inputs: { x: feed }, outputDir })),
      {
        code: 'MODEL_HANDLE_UNKNOWN',
        message: `validate.run failed in the tf worker: no loaded model with handle ${loaded.handle} in this worker`,
      },
    );
    session.close();
  });

  test('numpy reads what edgezoo writes and edgezoo reads what numpy writes, for every dtype', () => {
    const tensors: Tensor[] = [
      { dtype: 'float32', dims: [2, 3], data: Float32Array.from([1, -2, 3.5, 0.25, 1e-8, 7]) },
      { dtype: 'float16', dims: [2], data: float32ToFloat16([1, -0.5]) },
      { dtype: 'int64', dims: [2], data: BigInt64Array.from([1n, -9007199254740993n]) },
      { dtype: 'int32', dims: [1, 2], data: Int32Array.from([-5, 7]) },
      { dtype: 'int16', dims: [2], data: Int16Array.from([-300, 300]) },
      { dtype: 'int8', dims: [2], data: Int8Array.from([-128, 127]) },
      { dtype: 'uint8', dims: [2], data: Uint8Array.from([0, 255]) },
      { dtype: 'bool', dims: [2], data: Uint8Array.from([1, 0]) },
    ];
    tensors.forEach((tensor, i) => writeFileSync(path.join(folder, `ts-${i}.npy`), encodeNpy(tensor)));
    const script = `
import json, sys, numpy as np
folder, count = sys.argv[1], int(sys.argv[2])
out = []
for i in range(count):
    a = np.load(f"{folder}/ts-{i}.npy", allow_pickle=False)
    out.append([a.dtype.name, list(a.shape), [str(v) for v in a.ravel().tolist()]])
    # numpy writes it back: version 2.0 header, a big-endian copy too
    with open(f"{folder}/np-{i}.npy", "wb") as f:
        np.lib.format.write_array(f, a, version=(2, 0))
    np.save(f"{folder}/be-{i}.npy", a.astype(a.dtype.newbyteorder(">")))
print(json.dumps(out))
`;
    const result = spawnSync(python, ['-c', script, folder, String(tensors.length)], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    const seen = JSON.parse(result.stdout) as Array<[string, number[], string[]]>;
    assert.deepEqual(
      seen.map((s) => s[0]),
      ['float32', 'float16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'],
    );
    assert.deepEqual(seen[2]![2], ['1', '-9007199254740993']);
    assert.deepEqual(seen[1]![2], ['1.0', '-0.5']);
    tensors.forEach((tensor, i) => {
      for (const prefix of ['np', 'be']) {
        const back = decodeNpy(readBytes(path.join(folder, `${prefix}-${i}.npy`)));
        assert.equal(back.dtype, tensor.dtype, `${prefix}-${i}`);
        assert.deepEqual(back.dims, tensor.dims);
        assert.deepEqual([...back.data], [...tensor.data], `${prefix}-${i}`);
      }
    });
  });

  test('LiteRT: a full-integer model is fed quantised inputs and its int8 outputs are dequantised in TypeScript', async () => {
    // Reference: y = x + x in float (ONNX). Artifact: the same as an int8 TFLite ADD with its own scales.
    const onnxPath = path.join(folder, 'double.onnx');
    writeFileSync(
      onnxPath,
      encodeModel(
        buildModel({
          inputs: [{ name: 'x', shape: [1, 6] }],
          outputs: [{ name: 'y', shape: [1, 6] }],
          nodes: [{ op: 'Add', inputs: ['x', 'x'], outputs: ['y'] }],
        }),
      ),
    );
    const tflitePath = path.join(folder, 'double_int8.tflite');
    const int8Model = (outputScale: number) =>
      buildTfliteModel({
        operatorCodes: [{ op: 'ADD' }],
        buffers: [{}, {}, {}],
        subgraphs: [
          {
            name: 'main',
            tensors: [
              {
                name: 'serving_default_x:0',
                dtype: 'INT8',
                shape: [1, 6],
                buffer: 1,
                quantization: { scale: [1 / 255], zeroPoint: [-128] },
              },
              {
                name: 'StatefulPartitionedCall:0',
                dtype: 'INT8',
                shape: [1, 6],
                buffer: 2,
                quantization: { scale: [outputScale], zeroPoint: [-128] },
              },
            ],
            inputs: [0],
            outputs: [1],
            operators: [{ opcodeIndex: 0, inputs: [0, 0], outputs: [1], builtinOptions: { type: 'AddOptions' } }],
          },
        ],
      });
    writeFileSync(tflitePath, int8Model(2 / 255));
    const recipe = recipeFor([
      { name: 'x', shape: [1, 6], dynamic: [], layout: 'NC', dtype: 'float32', range: [0, 1] },
    ]);
    const samples = await loadSamples(recipe, folder, 'validation');
    const referenceRunner = new OnnxRuntimeRunner();
    await referenceRunner.load(onnxPath);
    const reference = await runReference(referenceRunner, samples, recipe);
    await referenceRunner.dispose();

    {
      const runner = new WorkerModelRunner('litert', openWorkerSession('tf'));
      await runner.load(tflitePath);
      const [input] = runner.inputs();
      assert.deepEqual(
        { ...input, quantization: undefined },
        { name: 'serving_default_x:0', dims: [1, 6], dtype: 'int8', quantization: undefined },
      );
      assert.equal(input!.quantization!.dtype, 'int8');
      assert.deepEqual(input!.quantization!.zeroPoint, [-128]);
      assert.equal(input!.quantization!.scale[0], Math.fround(1 / 255), 'the scale as TFLite stores it (float32)');
      const verdict = await validateArtifact({
        recipe,
        samples,
        reference,
        runner,
        format: 'tflite',
        precision: 'int8',
      });
      await runner.dispose();
      assert.equal(verdict.status, 'passed', JSON.stringify(verdict.outputs));
      assert.equal(verdict.outputs[0]!.matchedBy, 'shape');
      assert.ok(
        verdict.outputs[0]!.metrics!.maxAbsError <= 2 / 255 + 1e-6,
        `max abs error ${verdict.outputs[0]!.metrics!.maxAbsError}`,
      );

      // The same model with an output scale that is wrong for its data: dequantised values are off.
      const wrongPath = path.join(folder, 'double_int8_wrong.tflite');
      writeFileSync(wrongPath, int8Model(0.5 / 255));
      const wrong = new WorkerModelRunner('litert', openWorkerSession('tf'));
      await wrong.load(wrongPath);
      const failed = await validateArtifact({
        recipe,
        samples,
        reference,
        runner: wrong,
        format: 'tflite',
        precision: 'int8',
      });
      await wrong.dispose();
      assert.equal(failed.status, 'failed');
      assert.match(failed.outputs[0]!.failures[0]!, /^cosine similarity 0\.\d+ is below the minimum 0\.98$/);
    }
  });

  test('OpenVINO runs an ONNX model and agrees with onnxruntime; benchmarks are timed in the worker', async () => {
    const onnxPath = path.join(folder, 'mlp.onnx');
    const w = Float32Array.from({ length: 32 }, (_, i) => Math.sin(i));
    writeFileSync(
      onnxPath,
      encodeModel(
        buildModel({
          inputs: [{ name: 'x', shape: [1, 8] }],
          outputs: [{ name: 'scores', shape: [1, 4] }],
          nodes: [
            { op: 'Gemm', inputs: ['x', 'w'], outputs: ['h'], attributes: { transB: 1 } },
            { op: 'Softmax', inputs: ['h'], outputs: ['scores'], attributes: { axis: -1 } },
          ],
          initializers: [{ name: 'w', data: w, dims: [4, 8] }],
        }),
      ),
    );
    const recipe = recipeFor(
      [{ name: 'x', shape: [1, 8], dynamic: [], layout: 'NC', dtype: 'float32', range: [-1, 1] }],
      [{ name: 'scores', classifier: true }],
    );
    const samples = await loadSamples(recipe, folder, 'validation');
    const ort = new OnnxRuntimeRunner();
    await ort.load(onnxPath);
    const reference = await runReference(ort, samples, recipe);
    await ort.dispose();
    {
      const session = openWorkerSession('tf');
      const runner = new WorkerModelRunner('openvino', session, { threads: 1 });
      await runner.load(onnxPath);
      const verdict = await validateArtifact({
        recipe,
        samples,
        reference,
        runner,
        format: 'openvino',
        precision: 'fp32',
      });
      await runner.dispose();
      assert.equal(verdict.status, 'passed', JSON.stringify(verdict.outputs));
      assert.equal(verdict.outputs[0]!.metrics!.top1, 1);

      const bench = await benchmarkModel(
        (threads) => new WorkerModelRunner('openvino', session, { threads }),
        onnxPath,
        (r: ModelRunner) => prepareFeeds(samples.samples[0]!, recipe.inputs, r.inputs()),
        { warmup: 2, iterations: 10, threads: [1, 2] },
      );
      assert.equal(bench.runtime, 'openvino');
      for (const run of bench.runs) {
        assert.equal(run.timedIn, 'worker');
        assert.equal(run.iterations, 10);
        assert.ok(run.loadMs > 0 && run.medianMs > 0 && run.p90Ms >= run.medianMs, JSON.stringify(run));
      }
    }
  });
});

function readBytes(file: string): Uint8Array {
  return readFileSync(file);
}
