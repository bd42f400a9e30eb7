/**
 * The metadata writer against the real runtime: LiteRT (Python ai_edge_litert from the toolchain
 * venv) must load every rewritten model and give bit-identical outputs. Also inspects models
 * converted by TensorFlow's own TFLiteConverter when the venv has tensorflow.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { envDef } from '../../src/toolchain/envs.js';
import {
  EDGEZOO_METADATA_NAME,
  inspectTflite,
  readTflite,
  tfliteFixtures,
  writeTfliteMetadata,
} from '../../src/formats/tflite/index.js';

const run = promisify(execFile);
const python = process.env.EDGEZOO_TF_PYTHON ?? envDef('tf').python;

async function canImport(module: string): Promise<boolean> {
  if (!existsSync(python)) return false;
  try {
    await run(python, ['-c', `import ${module}`], { timeout: 120_000 });
    return true;
  } catch {
    return false;
  }
}
const hasLitert = await canImport('ai_edge_litert.interpreter');
const hasTensorflow = hasLitert && (await canImport('tensorflow'));
const skipLitert = hasLitert
  ? false
  : `needs ai_edge_litert in ${python} (run \`edgezoo setup\`, or set EDGEZOO_TF_PYTHON)`;
const skipTensorflow = hasTensorflow ? false : `needs tensorflow in ${python}`;

/** Runs each model on the same deterministic inputs; prints, per model, each output's raw bytes in hex. */
const RUN_MODELS = `
import json, sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter
results = []
for model_path in sys.argv[1:]:
    interpreter = Interpreter(model_path=model_path)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        count = int(np.prod(detail['shape']))
        values = np.sin(np.arange(count, dtype=np.float64) * 0.37).reshape(detail['shape'])
        dtype = detail['dtype']
        if np.issubdtype(dtype, np.integer):
            scale, zero_point = detail['quantization']
            info = np.iinfo(dtype)
            values = np.clip(np.round(values / (scale or 1.0) + zero_point), info.min, info.max)
        interpreter.set_tensor(detail['index'], values.astype(dtype))
    interpreter.invoke()
    outputs = [interpreter.get_tensor(d['index']) for d in interpreter.get_output_details()]
    results.append([{'dtype': str(o.dtype), 'shape': list(o.shape), 'hex': o.tobytes().hex()} for o in outputs])
print(json.dumps(results))
`;

interface Output {
  dtype: string;
  shape: number[];
  hex: string;
}

async function runModels(...modelPaths: string[]): Promise<Output[][]> {
  const { stdout } = await run(python, ['-c', RUN_MODELS, ...modelPaths], {
    timeout: 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Output[][];
}

/** Writes the edgezoo entry into a copy of `original` and checks LiteRT gives the same output bytes. */
async function assertSameOutputsAfterWrite(original: string, manifest: object): Promise<string> {
  const rewritten = original.replace(/\.tflite$/, '.with-metadata.tflite');
  await writeTfliteMetadata(
    original,
    rewritten,
    EDGEZOO_METADATA_NAME,
    new TextEncoder().encode(JSON.stringify(manifest)),
  );
  const [before, after] = await runModels(original, rewritten);
  assert.ok(before && before.length > 0, 'the model has outputs');
  assert.ok(
    before.some((o) => /[^0]/.test(o.hex)),
    'outputs are not all zero',
  );
  assert.deepEqual(after, before);
  const summary = await inspectTflite(rewritten);
  assert.deepEqual(summary.manifest, manifest);
  return rewritten;
}

describe('TFLite metadata writer with LiteRT', { skip: skipLitert }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'edgezoo-litert-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps outputs of the code-built fixtures bit-identical', async () => {
    const fixtures: Array<[string, Uint8Array]> = [
      ['add', tfliteFixtures.addModel()],
      ['add-external', tfliteFixtures.addModel({ externalConstant: true })],
      ['fc-float32', tfliteFixtures.fullyConnectedModel('float32')],
      ['fc-float16', tfliteFixtures.fullyConnectedModel('float16-weights')],
      ['fc-dynamic-int8', tfliteFixtures.fullyConnectedModel('dynamic-range-int8')],
      ['fc-int8', tfliteFixtures.fullyConnectedModel('full-integer-int8')],
      ['fc-int16', tfliteFixtures.fullyConnectedModel('int16-activations')],
    ];
    for (const [name, bytes] of fixtures) {
      const file = path.join(dir, `${name}.tflite`);
      writeFileSync(file, bytes);
      const rewritten = await assertSameOutputsAfterWrite(file, { model: name, version: '1.0.0' });
      // Replacing the entry again must keep the model loadable and identical too.
      const again = path.join(dir, `${name}.again.tflite`);
      await writeTfliteMetadata(rewritten, again, EDGEZOO_METADATA_NAME, new TextEncoder().encode('{"again":true}'));
      const [first, second] = await runModels(file, again);
      assert.deepEqual(second, first, name);
    }
  });

  it('the ADD fixture computes x + c in LiteRT (the reader and LiteRT agree on the constant)', async () => {
    const file = path.join(dir, 'add-check.tflite');
    writeFileSync(file, tfliteFixtures.addModel({ externalConstant: true }));
    const [[output]] = (await runModels(file)) as [[Output]];
    const y = new Float32Array(new Uint8Array(Buffer.from(output.hex, 'hex')).buffer);
    const x = [0, 1, 2, 3].map((i) => Math.fround(Math.sin(i * 0.37)));
    assert.deepEqual(
      [...y],
      x.map((v, i) => Math.fround(v + tfliteFixtures.ADD_CONSTANT[i]!)),
    );
  });
});

/** Builds a small Keras CNN and converts it with TFLiteConverter: float32 and full-integer int8 (int8 I/O). */
const CONVERT_KERAS = `
import os, sys
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
import numpy as np
import tensorflow as tf
out_dir = sys.argv[1]
tf.keras.utils.set_random_seed(7)
inputs = tf.keras.Input(shape=(16, 16, 3), batch_size=1, name='image')
x = tf.keras.layers.Conv2D(32, 3, padding='same', activation='relu')(inputs)
x = tf.keras.layers.DepthwiseConv2D(3, padding='same', activation='relu')(x)
x = tf.keras.layers.GlobalAveragePooling2D()(x)
# 32x64 weights: the converter leaves tensors under 1024 elements in float for dynamic-range int8
x = tf.keras.layers.Dense(64, activation='relu')(x)
outputs = tf.keras.layers.Dense(5, activation='softmax')(x)
model = tf.keras.Model(inputs, outputs)
converter = tf.lite.TFLiteConverter.from_keras_model(model)
open(os.path.join(out_dir, 'cnn-float32.tflite'), 'wb').write(converter.convert())
rng = np.random.default_rng(0)
def representative():
    for _ in range(8):
        yield [rng.uniform(-1, 1, size=(1, 16, 16, 3)).astype(np.float32)]
converter = tf.lite.TFLiteConverter.from_keras_model(model)
converter.optimizations = [tf.lite.Optimize.DEFAULT]
converter.representative_dataset = representative
converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
converter.inference_input_type = tf.int8
converter.inference_output_type = tf.int8
open(os.path.join(out_dir, 'cnn-int8.tflite'), 'wb').write(converter.convert())
converter = tf.lite.TFLiteConverter.from_keras_model(model)
converter.optimizations = [tf.lite.Optimize.DEFAULT]
open(os.path.join(out_dir, 'cnn-dynamic-int8.tflite'), 'wb').write(converter.convert())
converter = tf.lite.TFLiteConverter.from_keras_model(model)
converter.optimizations = [tf.lite.Optimize.DEFAULT]
converter.target_spec.supported_types = [tf.float16]
open(os.path.join(out_dir, 'cnn-float16.tflite'), 'wb').write(converter.convert())
`;

describe('TFLite models converted by TensorFlow', { skip: skipTensorflow }, () => {
  let dir: string;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'edgezoo-tfconv-'));
    await run(python, ['-c', CONVERT_KERAS, dir], { timeout: 540_000, maxBuffer: 64 * 1024 * 1024 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('inspects what the converter wrote', async () => {
    const float32 = await inspectTflite(path.join(dir, 'cnn-float32.tflite'));
    assert.equal(float32.flags.quantization, 'float32');
    assert.deepEqual(
      float32.inputs.map((i) => [i.dtype, i.shape, i.likelyLayout]),
      [['FLOAT32', [1, 16, 16, 3], 'NHWC']],
    );
    assert.ok(
      (float32.ops['CONV_2D'] ?? 0) >= 1 && (float32.ops['DEPTHWISE_CONV_2D'] ?? 0) >= 1,
      JSON.stringify(float32.ops),
    );
    assert.deepEqual(float32.flags.flexOps, []);
    assert.ok(
      float32.metadata.some((m) => m.name === 'min_runtime_version'),
      'the converter records the runtime version',
    );
    assert.match(float32.minRuntimeVersion ?? '', /^\d+\.\d+\.\d+/);

    const int8 = await inspectTflite(path.join(dir, 'cnn-int8.tflite'));
    assert.equal(int8.flags.quantization, 'full-integer-int8');
    assert.equal(int8.inputs[0]!.dtype, 'INT8');
    assert.equal(int8.outputs[0]!.dtype, 'INT8');
    assert.equal(int8.inputs[0]!.quantization?.scale.length, 1);

    assert.equal(
      (await inspectTflite(path.join(dir, 'cnn-dynamic-int8.tflite'))).flags.quantization,
      'dynamic-range-int8',
    );
    assert.equal((await inspectTflite(path.join(dir, 'cnn-float16.tflite'))).flags.quantization, 'float16-weights');
  });

  it('keeps outputs bit-identical after writing metadata', async () => {
    for (const name of ['cnn-float32', 'cnn-int8', 'cnn-dynamic-int8', 'cnn-float16']) {
      await assertSameOutputsAfterWrite(path.join(dir, `${name}.tflite`), {
        model: name,
        converter: 'TFLiteConverter',
      });
    }
  });
});

const skipLarge =
  process.env.EDGEZOO_TEST_LARGE_TFLITE === '1'
    ? skipLitert
    : 'writes 5 GB to the temp folder: set EDGEZOO_TEST_LARGE_TFLITE=1 to run';

describe('a TFLite model over 2 GiB (constant stored past the flatbuffer)', { skip: skipLarge }, () => {
  it('is inspected without loading its data, and LiteRT runs it the same after the metadata write', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'edgezoo-large-'));
    try {
      // The ADD fixture with its external constant moved to 2.25 GiB (a sparse gap before it).
      const model = tfliteFixtures.addModel({ externalConstant: true });
      const constantAt = readTflite(model).buffers[1]!.offset;
      const farAway = 2 ** 31 + 2 ** 28;
      const view = new DataView(model.buffer, model.byteOffset);
      const fields = [];
      for (let i = 0; i + 8 <= constantAt; i += 4)
        if (view.getBigUint64(i, true) === BigInt(constantAt)) fields.push(i);
      assert.equal(fields.length, 1, 'the offset field is found once');
      view.setBigUint64(fields[0]!, BigInt(farAway), true);
      const original = path.join(dir, 'large.tflite');
      const fd = openSync(original, 'w');
      writeSync(fd, model, 0, constantAt, 0);
      writeSync(fd, model, constantAt, 16, farAway);
      closeSync(fd);

      const started = performance.now();
      const summary = await inspectTflite(original);
      assert.ok(performance.now() - started < 5000, 'inspect reads only the flatbuffer part');
      assert.equal(summary.flags.externalBuffers, 1);
      assert.equal(summary.fileSize, statSync(original).size);
      await assertSameOutputsAfterWrite(original, { model: 'large' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
