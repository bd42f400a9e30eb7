/** Axis permutations between source and artifact tensors (src/validate/binding.ts), and constant samples. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bestOutputPermutation,
  channelsLastPerm,
  constantTensor,
  fittingPerms,
  matchIntermediates,
  invertPerm,
  permutedLayout,
  syntheticSamples,
  toArtifactOrder,
  toSourceOrder,
  type Tensor,
} from '../../src/validate/index.js';
import type { InputSpec } from '../../src/recipe/types.js';

function ramp(dims: number[]): Tensor<'float32'> {
  const length = dims.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', dims, data: Float32Array.from({ length }, (_, i) => i) };
}

test('channels-last permutations at ranks 1..5 and their layouts', () => {
  assert.deepEqual(channelsLastPerm(2), [0, 1]);
  assert.deepEqual(channelsLastPerm(3), [0, 2, 1]);
  assert.deepEqual(channelsLastPerm(5), [0, 2, 3, 4, 1]);
  assert.equal(permutedLayout('NCDHW', channelsLastPerm(5)), 'NDHWC');
  assert.equal(permutedLayout('NDD', channelsLastPerm(3)), 'NDD');
  assert.deepEqual(invertPerm([0, 2, 3, 4, 1]), [0, 4, 1, 2, 3]);
});

test('fitting permutations: what the converter does and the identity first, others only when those do not fit', () => {
  const last = channelsLastPerm(3);
  assert.deepEqual(fittingPerms([1, 3, 8], [1, 8, 3], [last]), [[0, 2, 1]]);
  // A cube: shapes cannot tell, both stay candidates, the converter's habit first.
  assert.deepEqual(fittingPerms([3, 3, 3], [3, 3, 3], [last]), [
    [0, 2, 1],
    [0, 1, 2],
  ]);
  // A 2-D output read transposed is not a layout the converter makes: only when nothing else fits.
  assert.deepEqual(fittingPerms([4, 2], [4, 2]), [[0, 1]]);
  assert.deepEqual(fittingPerms([4, 2], [2, 4]), [[1, 0]]);
  assert.deepEqual(fittingPerms([1, 3], [1, 4]), []);
  assert.deepEqual(fittingPerms([1, 3], [1, 3, 1]), []);
});

test('a tensor moved into the artifact order and back is unchanged, at rank 5', () => {
  const source = ramp([1, 2, 3, 4, 5]);
  const perm = channelsLastPerm(5);
  const artifact = toArtifactOrder(source, perm);
  assert.deepEqual(artifact.dims, [1, 3, 4, 5, 2]);
  assert.deepEqual(toSourceOrder(artifact, perm), source);
  assert.throws(() => toSourceOrder(ramp([2, 3]), perm), /does not fit a tensor of rank 2/);
});

test('the numbers settle an output permutation the shape leaves open', () => {
  const reference = ramp([2, 3, 3]);
  const artifact = toArtifactOrder(reference, [0, 2, 1]);
  assert.deepEqual(
    bestOutputPermutation(reference, artifact, [
      [0, 1, 2],
      [0, 2, 1],
    ])?.perm,
    [0, 2, 1],
  );
  assert.equal(bestOutputPermutation(reference, artifact, [[0, 2, 1]])?.error, 0);
  assert.equal(bestOutputPermutation(ramp([2, 3]), ramp([3, 2]), [[0, 1]]), undefined);
});

test('constant inputs: their value in every sample, in their dtype; they draw no random numbers', () => {
  const x: InputSpec = { name: 'x', shape: [1, 4], dynamic: [], layout: 'DD', dtype: 'float32', range: [0, 1] };
  const sr: InputSpec = { name: 'sr', shape: [], dynamic: [], layout: '', dtype: 'int64', range: [0, 1], value: 16000 };
  const mask: InputSpec = {
    name: 'mask',
    shape: [2, 2],
    dynamic: [],
    layout: 'DD',
    dtype: 'bool',
    range: [0, 1],
    value: [
      [true, false],
      [false, true],
    ],
  };
  assert.deepEqual(constantTensor(sr), { dtype: 'int64', dims: [], data: BigInt64Array.from([16000n]) });
  assert.deepEqual([...(constantTensor(mask).data as Uint8Array)], [1, 0, 0, 1]);
  const withConstants = syntheticSamples([x, sr, mask], 2, 7);
  const without = syntheticSamples([x], 2, 7);
  assert.deepEqual(withConstants[1]!.inputs.x, without[1]!.inputs.x);
  assert.deepEqual(withConstants[0]!.inputs.sr, constantTensor(sr));
  assert.throws(
    () => constantTensor({ ...mask, value: [true] }),
    /value has 1 element\(s\), its shape \[2, 2\] needs 4/,
  );
});

test('intermediates paired by numbers: a fused tensor is skipped, the first op after which nothing agrees is named', () => {
  const producers = [
    { tensor: 'a', node: 'conv', op: 'Conv' },
    { tensor: 'b', node: 'relu', op: 'Relu' },
    { tensor: 'c', node: 'resize', op: 'Resize' },
    { tensor: 'd', node: 'neg', op: 'Neg' },
  ];
  const ref = (values: number[], dims: number[]): Tensor => ({
    dtype: 'float32',
    dims,
    data: Float32Array.from(values),
  });
  const outputs = {
    a: ref([1, -2, 3, -4, 5, -6], [1, 2, 3]),
    b: ref([1, 0, 3, 0, 5, 0], [1, 2, 3]),
    c: ref([1, 2], [1, 2]),
    d: ref([-1, -2], [1, 2]),
  };
  const consumers = new Map([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['d']],
  ]);
  // The artifact fused Conv+Relu (no 'a'), keeps 'b' channels-last, and gets the Resize wrong.
  const artifact = [
    { name: 'fused', op: 'CONV_2D', tensor: toArtifactOrder(outputs.b as Tensor<'float32'>, [0, 2, 1]) },
    { name: 'r', op: 'RESIZE_BILINEAR', tensor: ref([1, 2.5], [1, 2]) },
    { name: 'n', op: 'NEG', tensor: ref([-1, -2.5], [1, 2]) },
  ];
  const found = matchIntermediates(producers, outputs, artifact, { atol: 1e-4, rtol: 1e-3, cosine: 0.9999 }, consumers);
  assert.equal(found.firstDivergence?.op, 'Resize');
  assert.match(
    found.firstDivergence?.failures[0] ?? '',
    /^no tensor of the artifact agrees with it \(2 of its size compared/,
  );
  // 'a' agrees with nothing but what is computed from it does: fused, not diverged.
  assert.equal(found.compared.find((entry) => entry.tensor === 'a')?.failures.length, 1);
  assert.deepEqual(found.compared.find((entry) => entry.tensor === 'b')?.failures, []);
});
