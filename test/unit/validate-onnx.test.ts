import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildModel, encodeModel, type BuilderNode, type BuildModelSpec } from '../../src/formats/onnx/index.js';
import type { Recipe } from '../../src/recipe/types.js';
import {
  benchmarkModel,
  diagnoseOnnx,
  loadOutputs,
  loadSamples,
  OnnxRuntimeRunner,
  prepareFeeds,
  readNpy,
  resolveThresholds,
  runReference,
  saveOutputs,
  TensorError,
  validateArtifact,
  WorkerModelRunner,
  writeNpy,
  type ArtifactSignature,
  type ComparedOutputs,
  type LoadedSamples,
  type QuantizationParams,
  type RunnerWorker,
  type Tensor,
} from '../../src/validate/index.js';
import { seededRandom } from '../../src/validate/random.js';
import { MODEL_OPS, OPS, type ModelOpName, type OpReply, type OpRequest } from '../../src/toolchain/protocol/index.js';

const folder = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-validate-onnx-'));
after(() => rmSync(folder, { recursive: true, force: true }));

const recipe: Recipe = {
  name: 'tiny-cnn',
  version: '1.0.0',
  license: 'MIT',
  description: 'test',
  task: 'image-classification',
  tags: [],
  source: {
    kind: 'onnx',
    file: { location: { kind: 'path', path: 'models/tiny/model.onnx' }, sha256: '0'.repeat(64) },
  },
  inputs: [{ name: 'x', shape: [1, 3, 4, 4], dynamic: [], layout: 'NCHW', dtype: 'float32', range: [0, 1] }],
  outputs: [
    { name: 'logits', classifier: true },
    { name: 'features', layout: 'NCHW', classifier: false },
  ],
  preprocess: { resize: true, channelOrder: 'rgb', scale: 1, mean: [0], std: [1] },
  validation: { samples: '', count: 16, topk: 3, seed: 3 },
  targets: { onnx: ['fp32', 'int8'], tflite: ['fp32'] },
  skip: {},
  converters: {},
  opset: 17,
  tolerances: {},
};

function weights(length: number, seed: number, scale = 1): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length }, () => (random() * 2 - 1) * scale);
}

const W = {
  conv: weights(4 * 3, 1),
  convBias: weights(4, 2, 0.1),
  fc: weights(10 * 4, 3, 2),
  fcBias: weights(10, 4, 0.1),
};

interface Variant {
  /** Feed NHWC and transpose inside (what onnx2tf-like converters make). */
  nhwc?: boolean;
  conv?: Float32Array;
  fc?: Float32Array;
  names?: { logits: string; features: string };
  /** Append QuantizeLinear to logits with this scale and zero point. */
  quantizeLogits?: { scale: number; zeroPoint: number };
}

/** A tiny CNN: Conv 1x1 -> Relu -> GlobalAveragePool -> Flatten -> Gemm, outputs logits [1,10] and features [1,4,4,4]. */
function tinyCnn(variant: Variant = {}): BuildModelSpec {
  const names = variant.names ?? { logits: 'logits', features: 'features' };
  const nodes: BuilderNode[] = [];
  if (variant.nhwc)
    nodes.push({
      op: 'Transpose',
      name: 'to_nchw',
      inputs: ['x'],
      outputs: ['x_nchw'],
      attributes: { perm: [0, 3, 1, 2] },
    });
  nodes.push(
    { op: 'Conv', name: 'conv', inputs: [variant.nhwc ? 'x_nchw' : 'x', 'w_conv', 'b_conv'], outputs: ['conv_out'] },
    { op: 'Relu', name: 'relu', inputs: ['conv_out'], outputs: [variant.nhwc ? 'relu_nchw' : names.features] },
  );
  const relu = variant.nhwc ? 'relu_nchw' : names.features;
  if (variant.nhwc)
    nodes.push({
      op: 'Transpose',
      name: 'to_nhwc',
      inputs: ['relu_nchw'],
      outputs: [names.features],
      attributes: { perm: [0, 2, 3, 1] },
    });
  nodes.push(
    { op: 'GlobalAveragePool', name: 'pool', inputs: [relu], outputs: ['pooled'] },
    { op: 'Flatten', name: 'flatten', inputs: ['pooled'], outputs: ['flat'] },
    {
      op: 'Gemm',
      name: 'fc',
      inputs: ['flat', 'w_fc', 'b_fc'],
      outputs: [variant.quantizeLogits ? 'logits_float' : names.logits],
      attributes: { transB: 1 },
    },
  );
  const initializers: NonNullable<BuildModelSpec['initializers']> = [
    { name: 'w_conv', data: variant.conv ?? W.conv, dims: [4, 3, 1, 1] },
    { name: 'b_conv', data: W.convBias, dims: [4] },
    { name: 'w_fc', data: variant.fc ?? W.fc, dims: [10, 4] },
    { name: 'b_fc', data: W.fcBias, dims: [10] },
  ];
  if (variant.quantizeLogits) {
    nodes.push({
      op: 'QuantizeLinear',
      name: 'quantize',
      inputs: ['logits_float', 'q_scale', 'q_zero'],
      outputs: [names.logits],
    });
    initializers.push({ name: 'q_scale', data: new Float32Array([variant.quantizeLogits.scale]), dims: [] });
    initializers.push({ name: 'q_zero', data: new Int8Array([variant.quantizeLogits.zeroPoint]), dims: [] });
  }
  return {
    inputs: [{ name: 'x', shape: variant.nhwc ? [1, 4, 4, 3] : [1, 3, 4, 4] }],
    outputs: [
      { name: names.logits, dtype: variant.quantizeLogits ? 'int8' : 'float32', shape: [1, 10] },
      { name: names.features, shape: variant.nhwc ? [1, 4, 4, 4] : [1, 4, 4, 4] },
    ],
    nodes,
    initializers,
  };
}

function save(name: string, spec: BuildModelSpec): string {
  const file = path.join(folder, `${name}.onnx`);
  writeFileSync(file, encodeModel(buildModel(spec)));
  return file;
}

let samples: LoadedSamples;
let reference: ComparedOutputs;
const referencePath = path.join(folder, 'reference.onnx');

before(async () => {
  writeFileSync(referencePath, encodeModel(buildModel(tinyCnn())));
  samples = await loadSamples(recipe, folder, 'validation');
  const runner = new OnnxRuntimeRunner();
  await runner.load(referencePath);
  reference = await runReference(runner, samples, recipe);
  await runner.dispose();
});

async function validate(file: string, precision: 'fp32' | 'int8', signature: ArtifactSignature = {}) {
  const runner = new OnnxRuntimeRunner();
  await runner.load(file);
  try {
    return await validateArtifact({ recipe, samples, reference, runner, format: 'onnx', precision, signature });
  } finally {
    await runner.dispose();
  }
}

describe('validating ONNX artifacts in onnxruntime-node', () => {
  test('the reference runs over 16 synthetic samples, stacked along the batch', () => {
    assert.equal(samples.synthetic, true);
    assert.deepEqual(reference.logits!.tensor.dims, [16, 10]);
    assert.deepEqual(reference.features!.tensor.dims, [16, 4, 4, 4]);
    assert.equal(reference.features!.layout, 'NCHW');
  });

  test('reference outputs survive saveOutputs/loadOutputs with names, order and layouts', async () => {
    const dir = path.join(folder, 'reference-outputs');
    await saveOutputs(dir, reference);
    const loaded = await loadOutputs(dir);
    assert.deepEqual(Object.keys(loaded), ['logits', 'features']);
    assert.equal(loaded.features!.layout, 'NCHW');
    assert.deepEqual([...loaded.logits!.tensor.data], [...reference.logits!.tensor.data]);
    await assert.rejects(loadOutputs(path.join(folder, 'nothing-here')), { code: 'OUTPUTS_UNREADABLE' });
  });

  test('a correct artifact passes, with top-1 agreement counted over the samples', async () => {
    const verdict = await validate(save('same', tinyCnn()), 'fp32');
    assert.equal(verdict.status, 'passed', JSON.stringify(verdict.outputs.map((o) => o.failures)));
    assert.equal(verdict.synthetic, true);
    assert.equal(verdict.samples, 16);
    const logits = verdict.outputs[0]!;
    assert.equal(logits.matchedBy, 'name');
    assert.equal(logits.metrics!.rows, 16);
    assert.equal(logits.metrics!.top1, 1);
    assert.ok(logits.metrics!.maxAbsError < 1e-5);
  });

  test('perturbed weights fail on max abs error and cosine', async () => {
    const fc = W.fc.map((v, i) => (i % 3 === 0 ? -v : v));
    const verdict = await validate(save('perturbed', tinyCnn({ fc })), 'fp32');
    assert.equal(verdict.status, 'failed');
    const logits = verdict.outputs[0]!;
    assert.equal(logits.status, 'failed');
    assert.match(
      logits.failures[0]!,
      /^max abs error [\d.]+ exceeds the allowed [\d.]+ \(atol 0\.0001 \+ rtol 0\.001 × max\|reference\| [\d.]+\)$/,
    );
    assert.ok(
      logits.failures.some((f) => /^cosine similarity [-\d.]+ is below the minimum 0\.9999$/.test(f)),
      logits.failures.join('\n'),
    );
    assert.equal(verdict.outputs[1]!.status, 'passed', 'features come before the perturbed layer');
  });

  test('an NHWC artifact passes when its layouts are recorded, and is refused with a clear message when not', async () => {
    const file = save('nhwc', tinyCnn({ nhwc: true }));
    const verdict = await validate(file, 'fp32', { inputLayouts: { x: 'NHWC' }, outputLayouts: { features: 'NHWC' } });
    assert.equal(verdict.status, 'passed', JSON.stringify(verdict.outputs.map((o) => o.failures)));
    await assert.rejects(validate(file, 'fp32'), (error: unknown) => {
      assert.ok(error instanceof TensorError);
      assert.equal(
        error.message,
        "input 'x': the sample's shape [1, 3, 4, 4] (layout NCHW) does not fit the artifact's input 'x' [1, 4, 4, 3]",
      );
      return true;
    });
    // Inputs right but the output layout not recorded: the features' values are compared in the wrong order.
    const unrecorded = await validate(file, 'fp32', { inputLayouts: { x: 'NHWC' } });
    assert.equal(unrecorded.status, 'failed');
    assert.equal(unrecorded.outputs[0]!.status, 'passed');
    assert.ok(
      unrecorded.outputs[1]!.failures.some((f) => f.startsWith('cosine similarity')),
      unrecorded.outputs[1]!.failures.join('\n'),
    );
  });

  test('renamed outputs are paired by shape; swapped names fail', async () => {
    const renamed = await validate(
      save('renamed', tinyCnn({ names: { logits: 'Identity_1', features: 'Identity' } })),
      'fp32',
    );
    assert.equal(renamed.status, 'passed');
    assert.deepEqual(
      renamed.outputs.map((o) => [o.name, o.artifactName, o.matchedBy]),
      [
        ['logits', 'Identity_1', 'shape'],
        ['features', 'Identity', 'shape'],
      ],
    );
    const mapped = await validate(
      save('renamed2', tinyCnn({ names: { logits: 'Identity_1', features: 'Identity' } })),
      'fp32',
      {
        outputNames: { logits: 'Identity_1', features: 'Identity' },
      },
    );
    assert.deepEqual(
      mapped.outputs.map((o) => o.matchedBy),
      ['mapping', 'mapping'],
    );
  });

  test('an int8 output is dequantised with the recorded scale and zero point; wrong ones fail cosine', async () => {
    const maxAbs = (reference.logits!.tensor.data as Float32Array).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const scale = maxAbs / 100;
    const zeroPoint = 5;
    const file = save('int8-out', tinyCnn({ quantizeLogits: { scale, zeroPoint } }));
    const params: QuantizationParams = { dtype: 'int8', scale: [scale], zeroPoint: [zeroPoint] };
    const good = await validate(file, 'int8', { outputQuantization: { logits: params } });
    assert.equal(good.status, 'passed', JSON.stringify(good.outputs.map((o) => o.failures)));
    assert.ok(good.outputs[0]!.metrics!.cosine > 0.999);
    const bad = await validate(file, 'int8', {
      outputQuantization: { logits: { ...params, zeroPoint: [60], scale: [scale * 3] } },
    });
    assert.equal(bad.status, 'failed');
    assert.match(bad.outputs[0]!.failures[0]!, /^cosine similarity -?[\d.]+ is below the minimum 0\.98$/);
  });
});

describe('benchmarkModel', () => {
  test('reports load time, median/p90 latency and memory for each thread count', async () => {
    const result = await benchmarkModel(
      (threads) => new OnnxRuntimeRunner({ threads }),
      referencePath,
      (runner) => prepareFeeds(samples.samples[0]!, recipe.inputs, runner.inputs()),
      {
        warmup: 2,
        iterations: 10,
        threads: [1, 2],
      },
    );
    assert.equal(result.runtime, 'onnxruntime');
    assert.deepEqual(
      result.runs.map((r) => r.threads),
      [1, 2],
    );
    for (const run of result.runs) {
      assert.equal(run.iterations, 10);
      assert.equal(run.timedIn, 'in-process');
      assert.ok(
        run.loadMs > 0 && run.medianMs > 0 && run.p90Ms >= run.medianMs && run.minMs <= run.medianMs,
        JSON.stringify(run),
      );
      assert.ok(run.peakRssDeltaBytes >= 0);
    }
  });
});

describe('diagnoseOnnx', () => {
  test('names the first op whose output diverges', async () => {
    const conv = W.conv.map((v, i) => (i === 2 ? v + 0.5 : v));
    const diagnosis = await diagnoseOnnx({
      referencePath,
      artifactPath: save('bad-conv', tinyCnn({ conv })),
      recipeInputs: recipe.inputs,
      sample: samples.samples[0]!,
      thresholds: resolveThresholds('fp32', 'onnx'),
    });
    assert.equal(diagnosis.firstDivergence?.node, 'conv');
    assert.equal(diagnosis.firstDivergence?.op, 'Conv');
    assert.equal(diagnosis.firstDivergence?.tensor, 'conv_out');
    assert.deepEqual(
      diagnosis.compared.map((c) => c.tensor),
      ['conv_out', 'features', 'pooled', 'flat', 'logits'],
    );

    const late = await diagnoseOnnx({
      referencePath,
      artifactPath: save('bad-fc', tinyCnn({ fc: W.fc.map((v) => v * 1.1) })),
      recipeInputs: recipe.inputs,
      sample: samples.samples[0]!,
      thresholds: resolveThresholds('fp32', 'onnx'),
    });
    assert.equal(late.firstDivergence?.node, 'fc');
    assert.deepEqual(
      late.compared.slice(0, 4).map((c) => c.failures),
      [[], [], [], []],
    );

    const same = await diagnoseOnnx({
      referencePath,
      artifactPath: save('same2', tinyCnn()),
      recipeInputs: recipe.inputs,
      sample: samples.samples[0]!,
      thresholds: resolveThresholds('fp32', 'onnx'),
    });
    assert.equal(same.firstDivergence, undefined);
  });
});

/**
 * Stands in for the Python worker: speaks the validate.* operations over .npy files like
 * src/toolchain/python/ops_validate.py, running a "TFLite" model that is logits = int8(x summed
 * per channel) with quantisation it reports itself. Its replies are parsed by the protocol's
 * reply schemas, as the real worker's are.
 */
class FakeLiteRtWorker implements RunnerWorker {
  calls: string[] = [];
  async call<N extends ModelOpName>(op: N, args: OpRequest<N>): Promise<OpReply<N>> {
    this.calls.push(op);
    return OPS[op].reply.parse(await this.answer(op, args as Record<string, unknown>)) as OpReply<N>;
  }
  private async answer(op: ModelOpName, args: Record<string, unknown>): Promise<unknown> {
    if (op === MODEL_OPS.load) {
      assert.equal(args.runtime, 'litert');
      return {
        handle: 1,
        inputs: [{ name: 'serving_default_x:0', dims: [1, 4, 4, 3], dtype: 'float32' }],
        outputs: [
          {
            name: 'StatefulPartitionedCall:0',
            dims: [1, 3],
            dtype: 'int8',
            quantization: { scale: [0.25], zeroPoint: [-10] },
          },
        ],
        loadSeconds: 0.002,
        rssDeltaBytes: 4096,
      };
    }
    if (op === MODEL_OPS.run) {
      const inputs = args.inputs as Record<string, string>;
      const x = await readNpy(inputs['serving_default_x:0']!);
      assert.deepEqual(x.dims, [1, 4, 4, 3], 'the runner fed NHWC');
      const sums = [0, 0, 0];
      (x.data as Float32Array).forEach((v, i) => (sums[i % 3]! += v));
      const q = Int8Array.from(sums, (s) => Math.max(-128, Math.min(127, Math.round(s / 0.25) - 10)));
      const outputDir = args.outputDir as string;
      mkdirSync(outputDir, { recursive: true });
      const npy = path.join(outputDir, '0.npy');
      await writeNpy(npy, { dtype: 'int8', dims: [1, 3], data: q });
      return { outputs: [{ name: 'StatefulPartitionedCall:0', npy, dims: [1, 3], dtype: 'int8' }], seconds: 0.001 };
    }
    if (op === MODEL_OPS.benchmark) return { latenciesMs: [1, 2, 3], medianMs: 2, p90Ms: 3, peakRssDeltaBytes: 100 };
    if (op === MODEL_OPS.release) return { released: 1 };
    throw new Error(`unknown op ${op}`);
  }
}

describe('WorkerModelRunner', () => {
  test('exchanges .npy files with the worker and dequantises what it reports', async () => {
    const worker = new FakeLiteRtWorker();
    const runner = new WorkerModelRunner('litert', worker);
    await runner.load(path.join(folder, 'model.tflite'));
    assert.deepEqual(runner.outputs()[0]!.quantization, { dtype: 'int8', scale: [0.25], zeroPoint: [-10] });
    // The reference: per-channel sums of the NCHW sample.
    const sums: ComparedOutputs = {
      sums: {
        tensor: {
          dtype: 'float32',
          dims: [16, 3],
          data: Float32Array.from(
            samples.samples.flatMap((s) =>
              [0, 1, 2].map((c) =>
                (s.inputs.x!.data as Float32Array).slice(c * 16, c * 16 + 16).reduce((a, b) => a + b, 0),
              ),
            ),
          ),
        } as Tensor,
      },
    };
    const verdict = await validateArtifact({
      recipe: { ...recipe, outputs: [] },
      samples,
      reference: sums,
      runner,
      format: 'tflite',
      precision: 'int8',
      signature: { inputLayouts: { 'serving_default_x:0': 'NHWC' } },
    });
    assert.equal(verdict.status, 'passed', JSON.stringify(verdict.outputs.map((o) => o.failures)));
    assert.equal(verdict.runtime, 'litert');
    assert.equal(verdict.outputs[0]!.artifactName, 'StatefulPartitionedCall:0');
    assert.ok(verdict.outputs[0]!.metrics!.maxAbsError <= 0.125 + 1e-6, 'within half a quantisation step');
    await runner.dispose();
    assert.deepEqual(
      worker.calls.filter((c) => c !== MODEL_OPS.run),
      [MODEL_OPS.load, MODEL_OPS.release],
    );
    assert.equal(worker.calls.length, 18);
  });

  test('benchmarks are timed by the worker', async () => {
    const result = await benchmarkModel(
      () => new WorkerModelRunner('litert', new FakeLiteRtWorker()),
      path.join(folder, 'm.tflite'),
      {},
      { threads: [1] },
    );
    assert.deepEqual(result.runs[0], {
      threads: 1,
      loadMs: 2,
      medianMs: 2,
      p90Ms: 3,
      minMs: 1,
      meanMs: 2,
      iterations: 3,
      // The worker's benchmark peak counts from before the load: the larger of it and the load's growth.
      peakRssDeltaBytes: 4096,
      timedIn: 'worker',
    });
  });
});
