import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeModel,
  encodeModel,
  OnnxFormatError,
  buildModel,
  inspectModel,
  describeOnnxSummary,
  tensorValues,
} from '../../src/formats/onnx/index.js';
import { convNet, runOnnx, seededFloats } from './onnx-fixtures.js';

const x = { data: seededFloats(2 * 3 * 8 * 8, 7), dims: [2, 3, 8, 8] };

test('decode -> encode is byte-identical and gives the same outputs in onnxruntime', async () => {
  const bytes = encodeModel(convNet());
  const decoded = decodeModel(bytes);
  const again = encodeModel(decoded);
  assert.deepEqual(Buffer.from(again), Buffer.from(bytes));
  const before = await runOnnx(bytes, { x });
  const after = await runOnnx(again, { x });
  assert.equal(before.outputs['y']!.length, 4);
  assert.deepEqual(after.outputs['y'], before.outputs['y']);
});

test('raw_data of decoded tensors are views of the input buffer, not copies', () => {
  const bytes = encodeModel(convNet());
  const model = decodeModel(bytes);
  const weights = model.graph!.initializer.find((t) => t.name === 'conv_w')!;
  assert.equal(weights.rawData!.buffer, bytes.buffer);
  assert.equal(weights.rawData!.length, 4 * 3 * 3 * 3 * 4);
});

test('int64 attributes keep their full range (INT64_MAX in Slice ends)', () => {
  const model = buildModel({
    inputs: [{ name: 'x', shape: [4] }],
    outputs: [{ name: 'y' }],
    nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
  });
  model.graph!.node[0]!.attribute.push({
    name: 'big',
    type: 7,
    ints: [9223372036854775807n, -1, 5],
    floats: [],
    strings: [],
    tensors: [],
    graphs: [],
    sparseTensors: [],
    typeProtos: [],
  });
  const decoded = decodeModel(encodeModel(model));
  assert.deepEqual(decoded.graph!.node[0]!.attribute[0]!.ints, [9223372036854775807n, -1, 5]);
});

test('tensorValues reads int64 and float raw data', () => {
  const model = buildModel({
    inputs: [],
    outputs: [],
    nodes: [],
    initializers: [
      { name: 's', data: [1, -2, 3], dims: [3], dtype: 'int64' },
      { name: 'f', data: [0.5, 1.5], dims: [2] },
    ],
  });
  const [s, f] = decodeModel(encodeModel(model)).graph!.initializer;
  assert.deepEqual(tensorValues(s!), [1, -2, 3]);
  assert.deepEqual(tensorValues(f!), [0.5, 1.5]);
});

test('malformed input gives typed errors with the text people read', () => {
  const bytes = encodeModel(convNet());
  assert.throws(() => decodeModel(new Uint8Array()), {
    name: 'OnnxFormatError',
    code: 'ONNX_NOT_A_MODEL',
    message: 'not an ONNX model: the file is empty',
  });
  assert.throws(
    () => decodeModel(bytes.subarray(0, bytes.length - 3)),
    (e: unknown) => e instanceof OnnxFormatError && e.code === 'ONNX_TRUNCATED',
  );
  // A huge declared length: field 7 (graph), length 0x7fffffff.
  assert.throws(() => decodeModel(Uint8Array.from([0x08, 0x08, 0x3a, 0xff, 0xff, 0xff, 0xff, 0x07])), {
    code: 'ONNX_TRUNCATED',
    message: 'ONNX data is truncated or corrupt: a field at byte 3 declares 2147483647 bytes but only 0 remain',
  });
  // graph (field 7) sent as a varint.
  assert.throws(() => decodeModel(Uint8Array.from([0x08, 0x08, 0x38, 0x01])), {
    code: 'ONNX_CORRUPT',
    message: 'corrupt ONNX data: ModelProto.graph (field 7) has wire type 0 at byte 3',
  });
  assert.throws(() => decodeModel(Uint8Array.from([0x08, 0x08])), {
    code: 'ONNX_NOT_A_MODEL',
    message: 'not an ONNX model: no graph field',
  });
  // A group (wire type 3) is never used by ONNX.
  assert.throws(() => decodeModel(Uint8Array.from([0x08, 0x08, 0x0b])), { code: 'ONNX_CORRUPT' });
});

test('deeply nested messages are rejected before the stack runs out', () => {
  // TypeProto.sequence_type (field 4) -> TypeProto.Sequence.elem_type (field 1) -> TypeProto ... 10k deep.
  const depth = 10_000;
  let inner: Uint8Array = new Uint8Array();
  for (let i = 0; i < depth; i++) {
    const seq = concat([0x0a, ...varint(inner.length)], inner);
    inner = concat([0x22, ...varint(seq.length)], seq);
  }
  const valueInfo = concat([0x12, ...varint(inner.length)], inner);
  const graph = concat([0x5a, ...varint(valueInfo.length)], valueInfo);
  const model = concat([0x08, 0x08, 0x3a, ...varint(graph.length)], graph);
  assert.throws(() => decodeModel(model), { code: 'ONNX_TOO_DEEP' });
});

test('encode refuses a proto over the limit and names the way out', () => {
  assert.throws(
    () => encodeModel(convNet(), { maxProtoBytes: 100 }),
    (e: unknown) =>
      e instanceof OnnxFormatError &&
      e.code === 'ONNX_TOO_LARGE' &&
      /over the 100-byte limit/.test(e.message) &&
      /external data/.test(e.hint ?? ''),
  );
});

test('inspect summarises signature, ops, parameters, layout and flags', () => {
  const summary = inspectModel(decodeModel(encodeModel(convNet())));
  assert.equal(summary.irVersion, 8);
  assert.deepEqual(summary.opsets, [{ domain: '', version: 17 }]);
  assert.deepEqual(summary.inputs, [{ name: 'x', dtype: 'float32', shape: ['batch', 3, 8, 8], likelyLayout: 'NCHW' }]);
  assert.deepEqual(summary.outputs, [{ name: 'y', dtype: 'float32', shape: ['batch', 2] }]);
  assert.equal(summary.nodeCount, 6);
  assert.equal(summary.ops['Conv'], 1);
  assert.equal(summary.parameters.count, 108 + 4 + 1 + 8 + 2);
  assert.equal(summary.parameters.bytes, (108 + 4 + 1 + 8 + 2) * 4);
  assert.deepEqual(summary.initializersByDtype, { float32: { tensors: 5, elements: 123, bytes: 492 } });
  assert.deepEqual(summary.metadata, { author: 'edgezoo tests' });
  assert.deepEqual(summary.flags.dynamicInputs, ['x']);
  assert.equal(summary.flags.quantization, 'float32');
  const lines = describeOnnxSummary(summary);
  assert.ok(lines.includes('  x: float32 [batch, 3, 8, 8] (likely NCHW)'), lines.join('\n'));
});

test('inspect classifies quantization kinds and custom domains', () => {
  const with_ = (ops: string[], domain?: string) =>
    inspectModel(
      buildModel({
        inputs: [{ name: 'x', shape: [1, 224, 224, 3] }],
        outputs: [{ name: 'y' }],
        nodes: ops.map((op, i) => ({
          op,
          inputs: [i === 0 ? 'x' : `t${i}`],
          outputs: [i === ops.length - 1 ? 'y' : `t${i + 1}`],
          ...(domain ? { domain } : {}),
        })),
      }),
    );
  assert.equal(with_(['QuantizeLinear', 'DequantizeLinear']).flags.quantization, 'qdq-int8');
  assert.equal(with_(['DynamicQuantizeLinear', 'MatMulInteger']).flags.quantization, 'dynamic-int8');
  assert.equal(with_(['QuantizeLinear', 'QLinearConv', 'DequantizeLinear']).flags.quantization, 'qoperator');
  // The width of each QuantizeLinear's zero point: int8 with fewer 16-bit activations is int8
  // with some 16-bit ones (the quantization search's mix); as many or more is A16W8.
  const widths = (types: string[]) =>
    inspectModel(
      buildModel({
        inputs: [{ name: 'x', shape: [1, 4] }],
        outputs: [{ name: `d${types.length - 1}` }],
        nodes: types.flatMap((_, i) => [
          { op: 'QuantizeLinear', inputs: [i === 0 ? 'x' : `d${i - 1}`, 's', `z${i}`], outputs: [`q${i}`] },
          { op: 'DequantizeLinear', inputs: [`q${i}`, 's', `z${i}`], outputs: [`d${i}`] },
        ]),
        initializers: [
          { name: 's', data: [0.1], dims: [] },
          ...types.map((dtype, i) => ({ name: `z${i}`, data: [0], dims: [], dtype })),
        ],
      }),
    ).flags.quantization;
  assert.equal(widths(['int8', 'uint8']), 'qdq-int8');
  assert.equal(widths(['int8', 'int8', 'uint16']), 'qdq-int8-int16');
  assert.equal(widths(['int8', 'uint16']), 'qdq-int16');
  assert.equal(widths(['uint16', 'int16']), 'qdq-int16');
  assert.equal(with_(['Transpose', 'Transpose']).flags.transposeCount, 2);
  assert.equal(with_(['Transpose']).inputs[0]!.likelyLayout, 'NHWC');
  assert.deepEqual(with_(['Fancy'], 'com.example').flags.customDomains, ['com.example']);
  const fp16 = buildModel({
    inputs: [],
    outputs: [],
    nodes: [],
    initializers: [{ name: 'w', data: new Uint16Array(2) as unknown as Uint8Array, dims: [2], dtype: 'float16' }],
  });
  assert.equal(inspectModel(fp16).flags.quantization, 'float16');
  // A weightless op converted to float16 with float32 I/O kept holds no float16 weight: its Casts
  // say it computes in float16 (the ONNX fp16 label check once refused it as float32).
  const castTo = (to: number) =>
    inspectModel(
      buildModel({
        inputs: [{ name: 'x', shape: [3] }],
        outputs: [{ name: 'y', shape: [3] }],
        nodes: [
          { op: 'Cast', inputs: ['x'], outputs: ['h'], attributes: { to } },
          { op: 'Abs', inputs: ['h'], outputs: ['a'] },
          { op: 'Cast', inputs: ['a'], outputs: ['y'], attributes: { to: 1 } },
        ],
      }),
    ).flags.quantization;
  assert.equal(castTo(10), 'float16');
  assert.equal(castTo(11), 'float32');
});

function varint(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

function concat(head: number[], tail: Uint8Array): Uint8Array {
  const out = new Uint8Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}
