import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  bufferBytes,
  buildTfliteModel,
  metadataBytes,
  readTflite,
  tfliteFixtures,
  TfliteUnsupportedError,
  withTfliteMetadata,
  writeTfliteMetadata,
  type TfliteModel,
} from '../../src/formats/tflite/index.js';

const { addModel, fullyConnectedModel, kitchenSinkModel } = tfliteFixtures;
const utf8 = (text: string) => new TextEncoder().encode(text);
const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);

/** Everything a model says except where its bytes sit, with buffer contents inlined for comparison. */
function content(bytes: Uint8Array, model: TfliteModel) {
  return {
    version: model.version,
    description: model.description,
    operatorCodes: model.operatorCodes,
    subgraphs: model.subgraphs.map((s) => ({
      ...s,
      operators: s.operators.map((o) => ({
        ...o,
        customOptions: o.customOptions && [
          ...bytes.subarray(o.customOptions.offset, o.customOptions.offset + o.customOptions.size),
        ],
      })),
    })),
    signatureDefs: model.signatureDefs,
    buffers: model.buffers.map((b, i) => ({ location: b.location, data: [...(bufferBytes(bytes, model, i) ?? [])] })),
  };
}

describe('withTfliteMetadata', () => {
  for (const [name, make] of [
    ['ADD', () => addModel()],
    ['ADD with an external constant', () => addModel({ externalConstant: true })],
    ['full-integer FC', () => fullyConnectedModel('full-integer-int8')],
    ['kitchen sink', () => kitchenSinkModel()],
  ] as const) {
    it(`adds an entry and leaves the rest of the ${name} model unchanged`, () => {
      const original = make();
      const before = readTflite(original);
      const written = withTfliteMetadata(original, 'edgezoo-test', utf8('{"hello":"world"}'));
      const after = readTflite(written);
      assert.equal(text(metadataBytes(written, after, 'edgezoo-test')), '{"hello":"world"}');
      assert.deepEqual(after.metadata.slice(0, -1), before.metadata);
      const expected = content(original, before);
      const actual = content(written, after);
      assert.deepEqual(actual.buffers.slice(0, -1), expected.buffers);
      assert.deepEqual({ ...actual, buffers: [] }, { ...expected, buffers: [] });
      // the new buffer's data is 16-byte aligned, like the converters write it
      assert.equal(after.buffers.at(-1)!.offset % 16, 0);
    });
  }

  it('replaces an existing entry in place, reusing its buffer', () => {
    const original = kitchenSinkModel();
    const before = readTflite(original);
    const written = withTfliteMetadata(original, 'edgezoo', utf8('{"model":"replaced"}'));
    const after = readTflite(written);
    assert.equal(after.buffers.length, before.buffers.length);
    assert.deepEqual(after.metadata, before.metadata);
    assert.equal(text(metadataBytes(written, after, 'edgezoo')), '{"model":"replaced"}');
    const again = withTfliteMetadata(written, 'edgezoo', utf8('{"model":"third"}'));
    assert.equal(text(metadataBytes(again, readTflite(again), 'edgezoo')), '{"model":"third"}');
    assert.deepEqual(content(again, readTflite(again)).subgraphs, content(original, before).subgraphs);
  });

  it('is deterministic', () => {
    const a = withTfliteMetadata(addModel(), 'edgezoo', utf8('{}'));
    const b = withTfliteMetadata(addModel(), 'edgezoo', utf8('{}'));
    assert.deepEqual(a, b);
  });

  it('moves absolute offsets of data stored past the flatbuffer', () => {
    const original = kitchenSinkModel();
    const before = readTflite(original);
    const written = withTfliteMetadata(original, 'edgezoo', utf8('x'));
    const after = readTflite(written);
    const shift = written.length - original.length;
    assert.equal(shift % 64, 0);
    assert.equal(after.buffers[2]!.offset, before.buffers[2]!.offset + shift);
    assert.equal(
      after.subgraphs[0]!.operators[4]!.customOptions!.offset,
      before.subgraphs[0]!.operators[4]!.customOptions!.offset + shift,
    );
  });

  it('gives a model without buffers an empty buffer 0 before the entry', () => {
    const bare = buildTfliteModel({
      operatorCodes: [],
      subgraphs: [{ tensors: [], inputs: [], outputs: [], operators: [] }],
      buffers: [],
    });
    const written = withTfliteMetadata(bare, 'edgezoo', utf8('{"a":1}'));
    const model = readTflite(written);
    assert.deepEqual(
      model.buffers.map((b) => b.location),
      ['empty', 'inline'],
    );
    assert.deepEqual(model.metadata, [{ name: 'edgezoo', buffer: 1 }]);
  });

  it('refuses a model whose root table has fields newer than its schema', () => {
    const newer = buildTfliteModel({ operatorCodes: [], subgraphs: [], buffers: [{}], unknownModelSlot: 12 });
    assert.equal(readTflite(newer).version, 3, 'the reader ignores fields it does not know');
    assert.throws(
      () => withTfliteMetadata(newer, 'edgezoo', utf8('{}')),
      (error: unknown) => {
        assert.ok(error instanceof TfliteUnsupportedError);
        assert.equal(error.code, 'TFLITE_UNSUPPORTED');
        assert.equal(
          error.message,
          'cannot rewrite this TFLite model: its Model table has field 12, unknown to the schema edgezoo was generated from',
        );
        return true;
      },
    );
  });
});

describe('writeTfliteMetadata (files)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgezoo-tflite-meta-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the same bytes as the in-memory writer, in place, leaving no temp file', async () => {
    const original = kitchenSinkModel();
    const file = path.join(dir, 'sink.tflite');
    writeFileSync(file, original);
    const { bytesWritten } = await writeTfliteMetadata(file, file, 'edgezoo', utf8('{"v":2}'));
    const expected = withTfliteMetadata(original, 'edgezoo', utf8('{"v":2}'));
    assert.equal(bytesWritten, expected.length);
    assert.deepEqual(new Uint8Array(readFileSync(file)), expected);
    assert.deepEqual(readdirSync(dir), ['sink.tflite']);
  });

  it('leaves no output when the input is not a model', async () => {
    const input = path.join(dir, 'junk.tflite');
    const output = path.join(dir, 'out.tflite');
    writeFileSync(input, utf8('this is not a flatbuffer at all'));
    await assert.rejects(writeTfliteMetadata(input, output, 'edgezoo', utf8('{}')), { name: 'TfliteFormatError' });
    assert.equal(existsSync(output), false);
  });
});
