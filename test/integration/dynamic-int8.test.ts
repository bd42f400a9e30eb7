/**
 * ONNX dynamic-int8 with the real onnxruntime quantize_dynamic (needs the tf venv):
 * - Conv layers are quantised too, as ConvInteger with uint8 weights (the only ConvInteger the
 *   CPU provider runs), so a conv-only model gets a real dynamic-int8 artifact, labelled so;
 * - a model whose Conv does not survive per-tensor activation quantisation (one channel 1e4
 *   times larger than the one the next layer reads) fails validation with Conv quantised, and
 *   the `dynamic-without-conv` strategy wins: Conv stays float, the Gemm keeps int8 weights;
 * - Conv weights are rescaled per output channel first (ConvInteger has one weight scale per
 *   tensor): a Conv whose output channels differ 1000-fold in range passes quantised, where
 *   per tensor its small channel rounded to zero;
 * - a conv-only model (nothing left to quantise without Conv) whose one Conv loses its weights to
 *   the scale (an outlier weight 1000 times the others in the same channel) fails quantised
 *   whole, and `dynamic-keep-float-10pct` keeps exactly that Conv float (the lowest weight
 *   SQNR): the other stays ConvInteger, the card's record says 1 of 2 layers float.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ARTIFACT_FILE, readStepFile } from '../../src/build/step-files.js';
import { buildModel, loadModel, type ModelProto } from '../../src/formats/onnx/index.js';
import { buildCollectingFailures, withProject, writeOnnxModelRecipe } from './convert-project.js';

/** models/<name>/model.onnx and its recipe: a [1, 2, 8, 8] input, the ONNX dynamic-int8 target. */
function writeConvNet(root: string, name: string, model: ModelProto): void {
  writeOnnxModelRecipe(root, name, model, {
    description: 'a small conv net',
    inputs: '[{ name: x, shape: [1, 2, 8, 8], layout: NCHW, range: [-1, 1] }]',
    targets: '{ onnx: [dynamic-int8] }',
  });
}

/** Deterministic weights in [-0.5, 0.5). */
function weights(n: number, seed: number): number[] {
  let state = seed;
  return Array.from({ length: n }, () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31 - 0.5;
  });
}

function convNet(first: number[], second: number[]): ModelProto {
  return buildModel({
    opset: 17,
    inputs: [{ name: 'x', shape: [1, 2, 8, 8] }],
    outputs: [{ name: 'y', shape: [1, 4] }],
    nodes: [
      { op: 'Conv', inputs: ['x', 'w1'], outputs: ['c1'], name: 'conv1', attributes: { pads: [1, 1, 1, 1] } },
      { op: 'Conv', inputs: ['c1', 'w2'], outputs: ['c2'], name: 'conv2' },
      { op: 'Flatten', inputs: ['c2'], outputs: ['f'], name: 'flatten' },
      { op: 'Gemm', inputs: ['f', 'w3'], outputs: ['y'], name: 'gemm', attributes: { transB: 1 } },
    ],
    initializers: [
      { name: 'w1', data: new Float32Array(first), dims: [2, 2, 3, 3] },
      { name: 'w2', data: new Float32Array(second), dims: [1, 2, 1, 1] },
      { name: 'w3', data: new Float32Array(weights(4 * 64, 3)), dims: [4, 64] },
    ],
  });
}

test('dynamic-int8: Conv as uint8 ConvInteger; a Conv that cannot take it stays float (dynamic-without-conv)', async () => {
  await withProject('edgezoo-dynamic-int8-', async (root) => {
    // Plain: both channels of conv1 alike, conv2 reads both.
    writeConvNet(root, 'plain', convNet(weights(36, 1), [0.7, -0.4]));
    // Outlier: conv1's channel 0 is 1e4 times larger than channel 1, and conv2 reads only
    // channel 1: with one activation scale per tensor, channel 1 rounds to zero.
    const big = weights(36, 2).map((w, i) => (i < 18 ? w * 1e4 : w));
    writeConvNet(root, 'outlier', convNet(big, [0, 1]));
    const { outputs, failures } = await buildCollectingFailures(root, ['plain', 'outlier']);
    assert.deepEqual(failures, []);

    const plainDir = outputs['plain/convert/onnx/dynamic-int8']!;
    const plainRecord = await readStepFile(plainDir, ARTIFACT_FILE);
    assert.equal(plainRecord.strategy, 'default');
    assert.equal(plainRecord.inspect.quantizationKind, 'dynamic-int8');
    const plainOps = loadModel(path.join(plainDir, plainRecord.primary)).graph!.node.map((n) => n.opType);
    assert.equal(plainOps.filter((op) => op === 'ConvInteger').length, 2);
    assert.equal(plainOps.filter((op) => op === 'MatMulInteger').length, 1);

    const outlierDir = outputs['outlier/convert/onnx/dynamic-int8']!;
    const outlierRecord = await readStepFile(outlierDir, ARTIFACT_FILE);
    assert.equal(outlierRecord.strategy, 'dynamic-without-conv');
    assert.deepEqual(
      outlierRecord.attempts?.map((a) => [a.strategy, a.outcome, a.stage]),
      [
        ['default', 'failed', 'numbers'],
        ['dynamic-without-conv', 'passed', undefined],
      ],
    );
    assert.deepEqual(outlierRecord.pin, ['strategies: { onnx/dynamic-int8: [dynamic-without-conv] }']);
    assert.equal(outlierRecord.inspect.quantizationKind, 'dynamic-int8');
    const outlierOps = loadModel(path.join(outlierDir, outlierRecord.primary)).graph!.node.map((n) => n.opType);
    assert.equal(outlierOps.filter((op) => op === 'Conv').length, 2);
    assert.ok(!outlierOps.includes('ConvInteger'));
    assert.ok(outlierOps.includes('MatMulInteger'));
  });
});

/**
 * conv1 (2 -> 1 channel) reads input channel 0 scaled by 0.01 through one weight of 500, and
 * channel 1 through weights of +-0.5: one uint8 scale for the (single-channel) weight tensor,
 * step ~2, rounds every +-0.5 to zero, so what survives is the outlier times a near-zero input.
 * Rescaling per output channel cannot help (there is one). conv2's weights (all 1) quantise exactly.
 */
function outlierWeightNet(): ModelProto {
  const w1 = weights(18, 5);
  w1[4] = 500;
  return buildModel({
    opset: 17,
    inputs: [{ name: 'x', shape: [1, 2, 8, 8] }],
    outputs: [{ name: 'y', shape: [1, 32, 8, 8] }],
    nodes: [
      { op: 'Mul', inputs: ['x', 'mask'], outputs: ['m'], name: 'mask' },
      { op: 'Conv', inputs: ['m', 'w1'], outputs: ['c1'], name: 'conv1', attributes: { pads: [1, 1, 1, 1] } },
      { op: 'Conv', inputs: ['c1', 'w2'], outputs: ['y'], name: 'conv2' },
    ],
    initializers: [
      { name: 'mask', data: new Float32Array([0.01, 1]), dims: [1, 2, 1, 1] },
      { name: 'w1', data: new Float32Array(w1), dims: [1, 2, 3, 3] },
      { name: 'w2', data: new Float32Array(32).fill(1), dims: [32, 1, 1, 1] },
    ],
  });
}

test('dynamic-int8: a conv-only model keeps its worst-quantising Conv float (dynamic-keep-float-10pct)', async () => {
  await withProject('edgezoo-dynamic-keep-', async (root) => {
    writeConvNet(root, 'outlier-weight', outlierWeightNet());
    const { outputs, failures } = await buildCollectingFailures(root, ['outlier-weight']);
    assert.deepEqual(failures, []);
    const dir = outputs['outlier-weight/convert/onnx/dynamic-int8']!;
    const record = await readStepFile(dir, ARTIFACT_FILE);
    assert.equal(record.strategy, 'dynamic-keep-float-10pct');
    assert.deepEqual(
      record.attempts?.map((a) => [a.strategy, a.outcome, a.stage]),
      [
        ['default', 'failed', 'numbers'],
        ['dynamic-keep-float-10pct', 'passed', undefined],
      ],
    );
    assert.deepEqual(record.pin, ['strategies: { onnx/dynamic-int8: [dynamic-keep-float-10pct] }']);
    assert.equal(record.inspect.quantizationKind, 'dynamic-int8');
    const quantization = (record.notes as Record<string, unknown>).quantization as Record<string, unknown>;
    assert.deepEqual(quantization.keptFloat, ['conv1']);
    assert.equal(quantization.layers, 2);
    const nodes = loadModel(path.join(dir, record.primary)).graph!.node;
    assert.deepEqual(
      nodes.filter((n) => n.opType === 'Conv').map((n) => n.name),
      ['conv1'],
    );
    assert.equal(nodes.filter((n) => n.opType === 'ConvInteger').length, 1);

    // Channels 1000-fold apart (the outlier test's conv1 of the first test, alone): per channel passes at once.
    const w = weights(36, 7).map((v, i) => (i < 18 ? v * 1000 : v));
    writeConvNet(
      root,
      'wide-channels',
      buildModel({
        opset: 17,
        inputs: [{ name: 'x', shape: [1, 2, 8, 8] }],
        outputs: [{ name: 'y', shape: [1, 1, 8, 8] }],
        nodes: [
          { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], name: 'conv', attributes: { pads: [1, 1, 1, 1] } },
          { op: 'Slice', inputs: ['c', 'starts', 'ends', 'axes'], outputs: ['y'], name: 'small-channel' },
        ],
        initializers: [
          { name: 'w', data: new Float32Array(w), dims: [2, 2, 3, 3] },
          { name: 'starts', data: [1], dims: [1], dtype: 'int64' },
          { name: 'ends', data: [2], dims: [1], dtype: 'int64' },
          { name: 'axes', data: [1], dims: [1], dtype: 'int64' },
        ],
      }),
    );
    const wideBuild = await buildCollectingFailures(root, ['wide-channels']);
    assert.deepEqual(wideBuild.failures, []);
    const wideDir = wideBuild.outputs['wide-channels/convert/onnx/dynamic-int8']!;
    const wideRecord = await readStepFile(wideDir, ARTIFACT_FILE);
    // Per tensor, every rung failed at cosine 0 (the small channel rounded away).
    assert.deepEqual(
      wideRecord.attempts?.map((a) => [a.strategy, a.outcome, a.stage]),
      [['default', 'passed', undefined]],
    );
    const wideNodes = loadModel(path.join(wideDir, wideRecord.primary)).graph!.node;
    assert.ok(
      wideNodes.some((n) => n.opType === 'ConvInteger'),
      wideNodes.map((n) => n.opType).join(),
    );
    assert.ok(wideNodes.some((n) => n.opType === 'Mul' && n.name === 'conv_channel_scale'));
  });
});
