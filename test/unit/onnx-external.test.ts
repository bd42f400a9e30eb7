import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { decodeModel, encodeModel, loadModel, saveModel, type ModelProto } from '../../src/formats/onnx/index.js';
import { convNet, runOnnx, seededFloats } from './onnx-fixtures.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-onnx-ext-'));
after(() => rmSync(root, { recursive: true, force: true }));
const x = { data: seededFloats(192, 5), dims: [1, 3, 8, 8] };

function folder(name: string): string {
  const dir = path.join(root, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Saves convNet with external data, then rewrites conv_w's location to `location`. */
function withLocation(dir: string, location: string): string {
  const file = path.join(dir, 'model.onnx');
  saveModel(convNet(), file, { externalData: { sizeThreshold: 16 } });
  const model = decodeModel(readFileSync(file));
  const entry = model
    .graph!.initializer.find((t) => t.name === 'conv_w')!
    .externalData.find((e) => e.key === 'location')!;
  entry.value = location;
  writeFileSync(file, encodeModel(model));
  return file;
}

test('saveModel with external data writes a side file that onnxruntime and loadModel both read', async () => {
  const dir = folder('ok');
  const file = path.join(dir, 'model.onnx');
  const saved = saveModel(convNet(), file, { externalData: { sizeThreshold: 16 } });
  assert.equal(saved.externalDataPath, path.join(dir, 'model.onnx.data'));
  assert.ok(statSync(saved.externalDataPath!).size >= 432);
  const reference = await runOnnx(convNet(), { x });
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(file);
  const out = await session.run({ x: new ort.Tensor('float32', x.data, x.dims) });
  assert.deepEqual(out['y']!.data, reference.outputs['y']);
  const loaded = loadModel(file);
  const viaLoad = await runOnnx(loaded, { x });
  assert.deepEqual(viaLoad.outputs['y'], reference.outputs['y']);
  assert.equal(
    loaded.graph!.initializer.every((t) => t.externalData.length === 0),
    true,
  );
});

test('a model too large for one proto is saved with external data automatically', () => {
  const dir = folder('auto');
  const model = convNet();
  model.graph!.initializer[0] = { ...model.graph!.initializer[0]!, rawData: new Uint8Array(4096), dims: [1024] };
  assert.throws(() => saveModel(model, path.join(dir, 'big.onnx'), { maxProtoBytes: 2000, externalData: false }), {
    code: 'ONNX_TOO_LARGE',
  });
  const saved = saveModel(model, path.join(dir, 'big.onnx'), { maxProtoBytes: 2000 });
  assert.equal(saved.externalDataPath, path.join(dir, 'big.onnx.data'));
  assert.ok(saved.modelBytes < 2000);
  const loaded: ModelProto = loadModel(path.join(dir, 'big.onnx'));
  assert.equal(loaded.graph!.initializer[0]!.rawData!.length, 4096);
});

test('external data location with ../ is refused', () => {
  const dir = folder('dotdot');
  writeFileSync(path.join(root, 'secret.bin'), new Uint8Array(432));
  const file = withLocation(dir, '../secret.bin');
  assert.throws(() => loadModel(file), {
    name: 'OnnxFormatError',
    code: 'ONNX_EXTERNAL_DATA_UNSAFE',
    message: `${file}: tensor "conv_w": external data location "../secret.bin" must not contain ".."`,
  });
});

test('absolute external data locations are refused', () => {
  const file = withLocation(folder('absolute'), path.join(root, 'secret.bin'));
  assert.throws(() => loadModel(file), {
    code: 'ONNX_EXTERNAL_DATA_UNSAFE',
    message: /must be a relative path inside the model's folder/,
  });
});

test('a symlink that leaves the model folder is refused', () => {
  const dir = folder('symlink');
  writeFileSync(path.join(root, 'outside.bin'), new Uint8Array(1000));
  symlinkSync(path.join(root, 'outside.bin'), path.join(dir, 'weights.bin'));
  const file = withLocation(dir, 'weights.bin');
  assert.throws(() => loadModel(file), {
    code: 'ONNX_EXTERNAL_DATA_UNSAFE',
    message: `${file}: tensor "conv_w": external data location "weights.bin" leads outside the model's folder (through a symlink)`,
  });
});

test('offsets and lengths past the end of the file are refused before reading', () => {
  const dir = folder('short');
  const file = path.join(dir, 'model.onnx');
  saveModel(convNet(), file, { externalData: { sizeThreshold: 16 } });
  writeFileSync(path.join(dir, 'model.onnx.data'), new Uint8Array(100));
  assert.throws(() => loadModel(file), {
    code: 'ONNX_EXTERNAL_DATA_INVALID',
    message: /is past the end of "model.onnx.data" \(100 bytes\)/,
  });
  assert.throws(() => loadModel(path.join(dir, 'missing.onnx')), { code: 'ONNX_READ_FAILED' });
  rmSync(path.join(dir, 'model.onnx.data'));
  assert.throws(() => loadModel(file), { code: 'ONNX_EXTERNAL_DATA_MISSING' });
});
