import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  formatTfliteSummary,
  inspectTflite,
  likelyImageLayout,
  readTflite,
  summarizeTflite,
  tfliteFixtures,
  tfliteFormat,
  TfliteFormatError,
  withTfliteMetadata,
} from '../../src/formats/tflite/index.js';

const { addModel, fullyConnectedModel, kitchenSinkModel } = tfliteFixtures;
const summarize = (bytes: Uint8Array) => summarizeTflite(readTflite(bytes), bytes);

describe('TFLite inspect summary', () => {
  it('tells each quantization kind apart', () => {
    for (const kind of [
      'float32',
      'float16-weights',
      'dynamic-range-int8',
      'full-integer-int8',
      'int16-activations',
    ] as const) {
      assert.equal(summarize(fullyConnectedModel(kind)).flags.quantization, kind, kind);
    }
  });

  it('reports I/O dtype and quantization parameters of a full-integer model', () => {
    const summary = summarize(fullyConnectedModel('full-integer-int8'));
    assert.deepEqual(summary.inputs, [
      {
        name: 'x',
        tensorIndex: 0,
        dtype: 'INT8',
        shape: [1, 8],
        quantization: { scale: [0.05000000074505806], zeroPoint: [-3], quantizedDimension: 0 },
        // The name in the serving_default signature (onnx2tf keeps the ONNX names there).
        signatureKey: 'x',
      },
    ]);
    assert.equal(summary.outputs[0]!.dtype, 'INT8');
    assert.deepEqual(summary.outputs[0]!.quantization?.zeroPoint, [2]);
  });

  it('flags Flex and custom ops, transposes, dynamic dims, external buffers, and reads the manifest', () => {
    const summary = summarize(kitchenSinkModel());
    assert.deepEqual(summary.flags, {
      flexOps: ['FlexErf'],
      customOps: ['MyCustomOp'],
      transposeCount: 1,
      dynamicTensors: ['image', 'transposed'],
      quantization: 'dynamic-range-int8',
      externalBuffers: 1,
    });
    assert.deepEqual(summary.ops, { ADD: 1, FlexErf: 1, FULLY_CONNECTED: 1, GELU: 1, MyCustomOp: 1, TRANSPOSE: 1 });
    assert.equal(summary.operatorCount, 6);
    assert.equal(summary.inputs[0]!.likelyLayout, 'NHWC');
    assert.deepEqual(summary.inputs[0]!.shapeSignature, [-1, 224, 224, 3]);
    assert.deepEqual(summary.manifest, { model: 'sink' });
    assert.deepEqual(summary.signatures[0], {
      key: 'serving_default',
      subgraphIndex: 0,
      inputs: ['image'],
      outputs: ['logits'],
    });
    assert.equal(summary.constantBytes, 6 + 16);
  });

  it('prints lines for people', () => {
    const lines = formatTfliteSummary(summarize(kitchenSinkModel()));
    assert.deepEqual(lines.slice(1, 6), [
      'description: kitchen sink',
      'quantization: dynamic-range-int8 (I/O FLOAT32)',
      'inputs:',
      '  image FLOAT32 [?, 224, 224, 3] NHWC',
      'outputs:',
    ]);
    assert.ok(lines.includes('warning: Flex ops (need the TensorFlow select-ops runtime): FlexErf'));
    assert.ok(lines.includes('warning: custom ops (need registered kernels): MyCustomOp'));
    assert.ok(lines.includes('operators: 6 (ADD 1, FlexErf 1, FULLY_CONNECTED 1, GELU 1, MyCustomOp 1, TRANSPOSE 1)'));
    assert.ok(lines.includes('edgezoo manifest: {"model":"sink"}'));
    const add = formatTfliteSummary(summarize(addModel()));
    assert.ok(add.includes('min runtime version: 1.5.0'));
    assert.ok(add.includes('signature serving_default: (x) -> (y)'));
  });

  it('reports a manifest entry that is not JSON instead of failing', () => {
    const bytes = withTfliteMetadata(addModel(), 'edgezoo', new TextEncoder().encode('{not json'));
    const summary = summarize(bytes);
    assert.equal(summary.manifest, undefined);
    assert.match(summary.manifestError ?? '', /^metadata "edgezoo" is not a JSON manifest: /);
  });

  it('guesses image layouts only when the dims say so', () => {
    assert.equal(likelyImageLayout([1, 224, 224, 3]), 'NHWC');
    assert.equal(likelyImageLayout([1, 3, 224, 224]), 'NCHW');
    assert.equal(likelyImageLayout([1, 3, 3, 3]), undefined);
    assert.equal(likelyImageLayout([1, 1000]), undefined);
  });
});

describe('tfliteFormat registry entry', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgezoo-tflite-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('matches TFLite bytes and not others', () => {
    assert.equal(tfliteFormat.match(addModel().subarray(0, 64)), true);
    assert.equal(tfliteFormat.match(new TextEncoder().encode('\x08\x07\x12\x04onnx')), false);
  });

  it('inspects a file and names it in errors', async () => {
    const good = path.join(dir, 'add.tflite');
    writeFileSync(good, addModel());
    const summary = await tfliteFormat.inspect(good);
    assert.deepEqual(
      tfliteFormat.formatSummary(summary)[0],
      `format: TFLite (schema 3), ${addModel().length} bytes, 16 bytes of constants`,
    );
    const bad = path.join(dir, 'bad.tflite');
    writeFileSync(bad, addModel().subarray(0, 40));
    await assert.rejects(inspectTflite(bad), (error: unknown) => {
      assert.ok(error instanceof TfliteFormatError);
      assert.ok(error.message.startsWith(`${bad}: invalid TFLite model: `), error.message);
      return true;
    });
  });
});
