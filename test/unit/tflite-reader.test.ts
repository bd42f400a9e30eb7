import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bufferBytes,
  buildTfliteModel,
  looksLikeTflite,
  metadataBytes,
  readTflite,
  TfliteFormatError,
  tfliteFixtures,
  type TfliteModelSpec,
} from '../../src/formats/tflite/index.js';

const { addModel, kitchenSinkModel, ADD_CONSTANT } = tfliteFixtures;

function floats(bytes: Uint8Array | undefined): number[] {
  assert.ok(bytes, 'expected bytes');
  return [...new Float32Array(bytes.slice().buffer)];
}

describe('readTflite on the ADD fixture', () => {
  const bytes = addModel();
  const model = readTflite(bytes);

  it('reads the header, description and file identifier', () => {
    assert.ok(looksLikeTflite(bytes));
    assert.equal(model.fileIdentifier, 'TFL3');
    assert.equal(model.version, 3);
    assert.equal(model.description, 'edgezoo test fixture: y = x + c');
  });

  it('reads the subgraph, its tensors and operator', () => {
    assert.equal(model.subgraphs.length, 1);
    const [main] = model.subgraphs;
    assert.equal(main!.name, 'main');
    assert.deepEqual(
      main!.tensors.map((t) => [t.name, t.dtype, t.shape, t.buffer]),
      [
        ['x', 'FLOAT32', [1, 4], 0],
        ['c', 'FLOAT32', [1, 4], 1],
        ['y', 'FLOAT32', [1, 4], 0],
      ],
    );
    assert.deepEqual(main!.inputs, [0]);
    assert.deepEqual(main!.outputs, [2]);
    assert.deepEqual(
      main!.operators.map((o) => [o.opName, o.inputs, o.outputs, o.builtinOptions]),
      [['ADD', [0, 1], [2], 'AddOptions']],
    );
  });

  it('locates buffer contents and metadata without copying', () => {
    assert.equal(model.buffers[0]!.location, 'empty');
    assert.equal(model.buffers[1]!.location, 'inline');
    assert.equal(model.buffers[1]!.offset % 16, 0, 'buffer data is 16-byte aligned');
    assert.deepEqual(floats(bufferBytes(bytes, model, 1)), [...ADD_CONSTANT]);
    assert.deepEqual(model.metadata, [{ name: 'min_runtime_version', buffer: 2 }]);
    assert.equal(new TextDecoder().decode(metadataBytes(bytes, model, 'min_runtime_version')), '1.5.0\0\0\0');
    assert.equal(metadataBytes(bytes, model, 'absent'), undefined);
  });

  it('reads signature defs', () => {
    assert.deepEqual(model.signatureDefs, [
      {
        key: 'serving_default',
        subgraphIndex: 0,
        inputs: [{ name: 'x', tensorIndex: 0 }],
        outputs: [{ name: 'y', tensorIndex: 2 }],
      },
    ]);
  });

  it('reads a constant stored past the flatbuffer (offset/size form)', () => {
    const external = addModel({ externalConstant: true });
    const read = readTflite(external);
    const buffer = read.buffers[1]!;
    assert.equal(buffer.location, 'external');
    assert.equal(buffer.size, 16);
    assert.ok(buffer.offset >= 64 && buffer.offset % 64 === 0);
    assert.deepEqual(floats(bufferBytes(external, read, 1)), [...ADD_CONSTANT]);
    // Only the flatbuffer part was read: the buffer is located but its bytes are out of reach.
    const head = external.subarray(0, buffer.offset);
    const partial = readTflite(head, { fileSize: external.length });
    assert.equal(partial.buffers[1]!.offset, buffer.offset);
    assert.equal(bufferBytes(head, partial, 1), undefined);
  });
});

describe('readTflite on the kitchen-sink fixture', () => {
  const bytes = kitchenSinkModel();
  const model = readTflite(bytes);

  it('takes the real builtin code as the max of the int8 and int32 fields', () => {
    assert.deepEqual(
      model.operatorCodes.map((c) => [c.name, c.builtinCode, c.isCustom, c.isFlex, c.version]),
      [
        ['ADD', 0, false, false, 1],
        ['FULLY_CONNECTED', 9, false, false, 1], // only the deprecated int8 field is set
        ['GELU', 150, false, false, 1], // 127 placeholder in the int8 field, 150 in builtin_code
        ['TRANSPOSE', 39, false, false, 1],
        ['FlexErf', 32, true, true, 1],
        ['MyCustomOp', 32, true, false, 2],
      ],
    );
  });

  it('reads quantization, shape signatures and options', () => {
    const [main, second] = model.subgraphs;
    const kernel = main!.tensors[1]!;
    assert.deepEqual(kernel.quantization, {
      scale: [0.5, 0.25],
      zeroPoint: [0, 0],
      quantizedDimension: 0,
      min: undefined,
      max: undefined,
    });
    assert.deepEqual(main!.tensors[0]!.shapeSignature, [-1, 224, 224, 3]);
    assert.equal(main!.tensors[3]!.shapeSignature, undefined);
    assert.deepEqual(main!.operators[3]!.inputs, [3, 4, -1], 'an omitted optional input stays -1');
    assert.equal(main!.operators[3]!.builtinOptions, 'FullyConnectedOptions');
    assert.equal(main!.operators[1]!.customOptions?.size, 3);
    assert.equal(second!.name, 'second');
    assert.deepEqual(
      model.signatureDefs.map((s) => [s.key, s.subgraphIndex]),
      [
        ['serving_default', 0],
        ['second', 1],
      ],
    );
  });

  it('locates large custom options stored past the flatbuffer', () => {
    const options = model.subgraphs[0]!.operators[4]!.customOptions!;
    assert.equal(options.size, 5);
    assert.deepEqual([...bytes.subarray(options.offset, options.offset + options.size)], [9, 8, 7, 6, 5]);
  });
});

describe('readTflite rejects malformed models with TfliteFormatError', () => {
  function rejects(bytes: Uint8Array, message: string | RegExp) {
    assert.throws(
      () => readTflite(bytes),
      (error: unknown) => {
        assert.ok(error instanceof TfliteFormatError, `expected TfliteFormatError, got ${String(error)}`);
        assert.equal(error.code, 'TFLITE_INVALID');
        if (typeof message === 'string') assert.equal(error.message, message);
        else assert.match(error.message, message);
        return true;
      },
    );
  }

  it('an empty or tiny file', () => {
    rejects(
      new Uint8Array(0),
      'invalid TFLite model: the file header at byte 0 (8 bytes) runs past the end of the model (0 bytes)',
    );
    rejects(
      new Uint8Array(7),
      'invalid TFLite model: the file header at byte 0 (8 bytes) runs past the end of the model (7 bytes)',
    );
  });

  it('a root offset past the end', () => {
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setUint32(0, 1000, true);
    rejects(bytes, 'invalid TFLite model: root table offset at byte 0 points past the end of the model');
  });

  it('a vector whose length claims more than the file holds', () => {
    const bytes = addModel();
    const model = readTflite(bytes);
    // The shape vector of tensor x: find its [1, 4] int32 pair and make its length huge.
    const view = new DataView(bytes.buffer);
    let patched = false;
    for (let i = 0; i + 12 <= bytes.length; i += 4) {
      if (view.getUint32(i, true) === 2 && view.getInt32(i + 4, true) === 1 && view.getInt32(i + 8, true) === 4) {
        view.setUint32(i, 0xfffffff0, true);
        patched = true;
        break;
      }
    }
    assert.ok(patched && model.subgraphs.length === 1);
    rejects(
      bytes,
      /^invalid TFLite model: subgraphs\[0\]\.tensors\[\d\]\.shape at byte \d+ claims 4294967280 elements, more than the model holds$/,
    );
  });

  it('indices that point outside what they index', () => {
    const base: TfliteModelSpec = {
      operatorCodes: [{ op: 'ADD' }],
      subgraphs: [
        {
          tensors: [{ name: 'x', dtype: 'FLOAT32', shape: [1], buffer: 5 }],
          inputs: [0],
          outputs: [0],
          operators: [],
        },
      ],
      buffers: [{}],
    };
    rejects(
      buildTfliteModel(base),
      'invalid TFLite model: subgraphs[0].tensors[0] buffer index 5 is out of range (0..0)',
    );
    const badOp = {
      ...base,
      subgraphs: [
        {
          ...base.subgraphs[0]!,
          tensors: [{ name: 'x', dtype: 'FLOAT32', shape: [1] }],
          operators: [{ opcodeIndex: 3, inputs: [0], outputs: [0] }],
        },
      ],
    };
    rejects(
      buildTfliteModel(badOp),
      'invalid TFLite model: subgraphs[0].operators[0] opcode index 3 is out of range (0..0)',
    );
    const badInput = {
      ...base,
      subgraphs: [{ ...base.subgraphs[0]!, tensors: [{ name: 'x', dtype: 'FLOAT32', shape: [1] }], inputs: [-1] }],
    };
    rejects(
      buildTfliteModel(badInput),
      'invalid TFLite model: subgraphs[0] input tensor index -1 is out of range (0..0)',
    );
  });

  it('an external buffer past the end of the file', () => {
    const bytes = addModel({ externalConstant: true });
    const offset = readTflite(bytes).buffers[1]!.offset;
    assert.throws(
      () => readTflite(bytes.subarray(0, offset)),
      /^TfliteFormatError: invalid TFLite model: buffers\[1\] stored at bytes \d+\.\.\d+ lies past the end of the file \(\d+ bytes\)$/,
    );
  });

  it('many tables sharing one long vector exhaust the element budget instead of the clock', () => {
    assert.throws(() => readTflite(addModel(), { maxElements: 10 }), {
      name: 'TfliteFormatError',
      message: 'invalid TFLite model: too many elements to decode (tables share vectors in a way no converter writes)',
    });
  });
});
