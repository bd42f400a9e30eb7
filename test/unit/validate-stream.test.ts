import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { buildModel, encodeModel, type BuildModelSpec } from '../../src/formats/onnx/index.js';
import type { Recipe } from '../../src/recipe/types.js';
import {
  feedBack,
  loadSamples,
  OnnxRuntimeRunner,
  runReference,
  TensorError,
  validateArtifact,
  writeNpy,
  type ArtifactSignature,
} from '../../src/validate/index.js';
import { seededRandom } from '../../src/validate/random.js';

const folder = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-validate-stream-'));
after(() => rmSync(folder, { recursive: true, force: true }));

/** A recurrent cell: stateN = 0.5 * state + x, output = sigmoid(stateN); x [1,4], state [2,1,4]. */
function cell(variant: { ignoreState?: boolean; artifactOrder?: boolean } = {}): BuildModelSpec {
  const state = variant.ignoreState ? 'zeros' : 'state';
  const inputs = [
    { name: 'x', shape: [1, 4] },
    { name: 'state', shape: [2, 1, 4] },
  ];
  return {
    // What onnx2tf makes of Silero: inputs [state, x], stateN [1, 2, 4], outputs renamed.
    inputs: variant.artifactOrder ? [inputs[1]!, inputs[0]!] : inputs,
    outputs: variant.artifactOrder
      ? [
          { name: 'PartitionedCall:0', shape: [2, 1, 4] },
          { name: 'PartitionedCall:1', shape: [1, 2, 4] },
        ]
      : [
          { name: 'output', shape: [2, 1, 4] },
          { name: 'stateN', shape: [2, 1, 4] },
        ],
    nodes: [
      { op: 'Mul', inputs: [state, 'half'], outputs: ['decayed'] },
      { op: 'Add', inputs: ['decayed', 'x'], outputs: ['next'] },
      { op: 'Sigmoid', inputs: ['next'], outputs: [variant.artifactOrder ? 'PartitionedCall:0' : 'output'] },
      variant.artifactOrder
        ? { op: 'Transpose', inputs: ['next'], outputs: ['PartitionedCall:1'], attributes: { perm: [1, 0, 2] } }
        : { op: 'Identity', inputs: ['next'], outputs: ['stateN'] },
    ],
    initializers: [
      { name: 'half', data: [0.5], dims: [] },
      { name: 'zeros', data: new Float32Array(8), dims: [2, 1, 4] },
    ],
  };
}

const recipe: Recipe = {
  name: 'cell',
  version: '1.0.0',
  license: 'MIT',
  description: 'test',
  task: 'voice-activity-detection',
  tags: [],
  source: { kind: 'onnx', file: { location: { kind: 'path', path: 'cell.onnx' }, sha256: '0'.repeat(64) } },
  inputs: [
    { name: 'x', shape: [1, 4], dynamic: [], layout: 'NL', dtype: 'float32', range: [-1, 1] },
    { name: 'state', shape: [2, 1, 4], dynamic: [], layout: 'DND', dtype: 'float32', range: [-4, 4] },
  ],
  outputs: [
    { name: 'output', classifier: false },
    { name: 'stateN', classifier: false },
  ],
  preprocess: { resize: false, channelOrder: 'rgb', scale: 1, mean: [0], std: [1] },
  validation: { samples: 'val/*.npy', count: 12, topk: 5, seed: 0 },
  targets: { onnx: ['fp32'] },
  skip: {},
  converters: {},
  opset: 17,
  tolerances: {},
};
const streamed: Recipe = {
  ...recipe,
  validation: { ...recipe.validation, stream: { feedback: { stateN: 'state' }, chunks: 6 } },
};

/** 12 chunks, each with the all-zero state a stream starts from: one step at a time never exercises the state. */
async function writeSamples() {
  mkdirSync(path.join(folder, 'val'), { recursive: true });
  const random = seededRandom(7);
  for (let i = 0; i < 12; i++) {
    const name = String(i).padStart(2, '0');
    const x = Float32Array.from({ length: 4 }, () => random() * 2 - 1);
    await writeNpy(path.join(folder, 'val', `${name}.x.npy`), { dtype: 'float32', dims: [1, 4], data: x });
    await writeNpy(path.join(folder, 'val', `${name}.state.npy`), {
      dtype: 'float32',
      dims: [2, 1, 4],
      data: new Float32Array(8),
    });
  }
}

async function runner(spec: BuildModelSpec, name: string) {
  const file = path.join(folder, `${name}.onnx`);
  writeFileSync(file, encodeModel(buildModel(spec)));
  const loaded = new OnnxRuntimeRunner();
  await loaded.load(file);
  return loaded;
}

async function validate(r: Recipe, artifact: BuildModelSpec, name: string, signature: ArtifactSignature = {}) {
  const samples = await loadSamples(r, folder, 'validation');
  const source = await runner(cell(), 'reference');
  const reference = await runReference(source, samples, r);
  await source.dispose();
  const loaded = await runner(artifact, name);
  try {
    return await validateArtifact({
      recipe: r,
      samples,
      reference,
      runner: loaded,
      format: 'onnx',
      precision: 'fp32',
      signature,
    });
  } finally {
    await loaded.dispose();
  }
}

describe('streaming validation (validation.stream)', () => {
  test('an artifact that ignores its state passes step by step but fails on chained chunks', async () => {
    await writeSamples();
    const single = await validate(recipe, cell({ ignoreState: true }), 'stateless');
    assert.equal(single.status, 'passed');
    const chained = await validate(streamed, cell({ ignoreState: true }), 'stateless');
    assert.equal(chained.status, 'failed');
    assert.deepEqual(
      chained.outputs.map((output) => [output.name, output.status]),
      [
        ['output', 'failed'],
        ['stateN', 'failed'],
      ],
    );
  });

  test('an artifact that reorders inputs, renames outputs and returns the state as [1,2,4] passes chained', async () => {
    const verdict = await validate(streamed, cell({ artifactOrder: true }), 'reordered', {
      outputNames: { output: 'PartitionedCall:0', stateN: 'PartitionedCall:1' },
      outputLayouts: { 'PartitionedCall:1': 'NDD' },
    });
    assert.equal(verdict.status, 'passed', JSON.stringify(verdict.outputs.map((o) => o.failures)));
    assert.equal(verdict.samples, 12);
  });

  test('the reference chains too: its state grows over a stream and restarts with each one', async () => {
    const samples = await loadSamples(streamed, folder, 'validation');
    const source = await runner(cell(), 'reference');
    const reference = await runReference(source, samples, streamed);
    await source.dispose();
    const state = reference.stateN!.tensor.data as Float32Array;
    // Step 1 of the first stream: 0.5 * x0 + x1; step 6 starts again from zeros: x6.
    const x = samples.samples.map((sample) => sample.inputs.x!.data as Float32Array);
    assert.ok(Math.abs(state[8]! - (0.5 * x[0]![0]! + x[1]![0]!)) < 1e-6);
    assert.ok(Math.abs(state[6 * 8]! - x[6]![0]!) < 1e-6);
  });

  test('a fed-back output that cannot take the input shape is a TensorError naming both', () => {
    const sample = {
      id: 's',
      inputs: {
        x: { dtype: 'float32' as const, dims: [1, 4], data: new Float32Array(4) },
        state: { dtype: 'float32' as const, dims: [2, 1, 4], data: new Float32Array(8) },
      },
    };
    const previous = { stateN: { dtype: 'float32' as const, dims: [2, 4, 1, 1], data: new Float32Array(8) } };
    assert.doesNotThrow(() => feedBack(sample, previous, { feedback: { stateN: 'state' } }, recipe.inputs));
    const wrong = { stateN: { dtype: 'float32' as const, dims: [4, 2], data: new Float32Array(8) } };
    assert.throws(
      () => feedBack(sample, wrong, { feedback: { stateN: 'state' } }, recipe.inputs),
      (error: unknown) =>
        error instanceof TensorError &&
        error.message === "stream feedback: output 'stateN' [4, 2] cannot be fed back as input 'state' [2, 1, 4]",
    );
    assert.throws(
      () => feedBack(sample, {}, { feedback: { stateN: 'state' } }, recipe.inputs),
      /the model gave no output 'stateN' to feed back as 'state' \(its outputs: none\)/,
    );
  });
});
