/**
 * The converters for real (needs the tf and torch venvs): the tiny CNN, trained here with seed 0,
 * goes through the real plan and executor up to convert in every target and precision
 * (ONNX fp32/fp16/dynamic-int8/int8, TFLite fp32/fp16/dynamic-int8/int8/int16-act via onnx2tf,
 * TFLite fp32/int8 via litert-torch, OpenVINO fp32/fp16, int8 via NNCF); an ONNX source made with buildModel and a
 * TFLite source (onnx2tf's fp32 output) go through prepare (tf2onnx) and ovc. Every artifact is
 * opened in its own runtime, checked for its inputs/outputs/layout/quantisation and metadata, and
 * compared with the prepared ONNX model on the validation samples.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ARTIFACT_FILE, type ArtifactRecord } from '../../src/build/step-files.js';
import { buildModel, loadModel, saveModel } from '../../src/formats/onnx/index.js';
import { inspectOpenvinoIr } from '../../src/formats/openvino/index.js';
import { inspectTflite } from '../../src/formats/tflite/index.js';
import { loadRecipe } from '../../src/recipe/index.js';
import type { Recipe } from '../../src/recipe/types.js';
import { openWorkerSession, runInWorker, stopSharedWorkerPool } from '../../src/toolchain/pool.js';
import {
  loadSamples,
  OnnxRuntimeRunner,
  runReference,
  validateArtifact,
  WorkerModelRunner,
  type ComparedOutputs,
  type ModelRunner,
} from '../../src/validate/index.js';
import { buildUpToConvert, sha256File, tinyCnnRecipe, trainTinyCnn, writeRecipe } from './convert-project.js';

const ALL_TARGETS =
  '{ onnx: [fp32, fp16, dynamic-int8, int8], tflite: [fp32, fp16, dynamic-int8, int8, int16-act], openvino: [fp32, fp16, int8] }';

let root: string;
let outputs: Record<string, string> = {};
const buildFailures: string[] = [];

function artifactOf(stepId: string): { dir: string; artifact: ArtifactRecord } {
  const dir = outputs[stepId];
  assert.ok(dir, `${stepId} was not built (failures: ${buildFailures.join('; ')})`);
  return {
    dir,
    artifact: ARTIFACT_FILE.schema.parse(JSON.parse(readFileSync(path.join(dir, ARTIFACT_FILE.name), 'utf8'))),
  };
}

async function openRunner(format: string, file: string): Promise<ModelRunner> {
  const runner: ModelRunner =
    format === 'onnx'
      ? new OnnxRuntimeRunner()
      : // A session: the model stays in the one worker that loaded it (given back on dispose).
        new WorkerModelRunner(format === 'tflite' ? 'litert' : 'openvino', openWorkerSession('tf'));
  await runner.load(file);
  return runner;
}

async function recipeOf(name: string): Promise<Recipe> {
  const loaded = await loadRecipe(path.join(root, 'recipes', `${name}.yaml`), root);
  assert.ok(loaded.recipe, JSON.stringify(loaded.problems));
  return loaded.recipe;
}

/** Runs the artifact on the validation samples against the prepared ONNX model's outputs. */
async function agreesWithPrepared(
  model: string,
  stepId: string,
  reference: ComparedOutputs,
): Promise<{ status: string; top1?: number; detail?: unknown }> {
  const recipe = await recipeOf(model);
  const { dir, artifact } = artifactOf(stepId);
  const runner = await openRunner(artifact.format, path.join(dir, artifact.primary));
  try {
    const samples = await loadSamples(recipe, root, 'validation');
    const verdict = await validateArtifact({
      recipe,
      samples,
      reference,
      runner,
      format: artifact.format,
      precision: artifact.precision,
      signature: artifact.signature,
    });
    const first = verdict.outputs[0] as unknown as { metrics?: { top1?: number } };
    return {
      status: verdict.status,
      ...(first?.metrics?.top1 !== undefined ? { top1: first.metrics.top1 } : {}),
      ...(verdict.status === 'failed' ? { detail: verdict } : {}),
    };
  } finally {
    await runner.dispose();
  }
}

async function preparedReference(model: string): Promise<ComparedOutputs> {
  const recipe = await recipeOf(model);
  const runner = new OnnxRuntimeRunner();
  await runner.load(path.join(outputs[`${model}/prepare`]!, 'model.onnx'));
  try {
    return await runReference(runner, await loadSamples(recipe, root, 'validation'), recipe);
  } finally {
    await runner.dispose();
  }
}

before(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-convert-'));
  const { weightsSha256 } = trainTinyCnn(root);
  writeRecipe(root, 'tiny-cnn', tinyCnnRecipe('tiny-cnn', weightsSha256, ALL_TARGETS));
  writeRecipe(
    root,
    'tiny-cnn-litert',
    tinyCnnRecipe('tiny-cnn-litert', weightsSha256, '{ tflite: [fp32, int8] }', 'litert-torch'),
  );
  // An ONNX source written by src/formats/onnx: x[1,3,16,16] -> Conv 3x3 (4 filters) -> Relu -> y.
  mkdirSync(path.join(root, 'models', 'conv-onnx'), { recursive: true });
  const weights = Float32Array.from({ length: 4 * 3 * 3 * 3 }, (_, i) => Math.sin(i) * 0.3);
  saveModel(
    buildModel({
      opset: 17,
      inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 3, 16, 16] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: ['batch', 4, 16, 16] }],
      initializers: [{ name: 'w', dims: [4, 3, 3, 3], data: weights }],
      nodes: [
        { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attributes: { pads: [1, 1, 1, 1] }, name: 'conv' },
        { op: 'Relu', inputs: ['c'], outputs: ['y'], name: 'relu' },
      ],
    }),
    path.join(root, 'models', 'conv-onnx', 'model.onnx'),
  );
  writeRecipe(
    root,
    'conv-onnx',
    [
      'name: conv-onnx',
      'version: 0.1.0',
      'license: Apache-2.0',
      'description: one conv',
      'task: feature-extraction',
      `source: { onnx: { path: models/conv-onnx/model.onnx, sha256: ${sha256File(path.join(root, 'models', 'conv-onnx', 'model.onnx'))} } }`,
      'inputs: [{ name: x, shape: [1, 3, 16, 16], layout: NCHW, range: [0, 1] }]',
      'outputs: [{ name: y, layout: NCHW }]',
      'targets: { onnx: [fp32], tflite: [fp32], openvino: [fp32] }',
      '',
    ].join('\n'),
  );

  const first = await buildUpToConvert(root, ['tiny-cnn', 'tiny-cnn-litert', 'conv-onnx'], (event) => {
    if (event.type === 'step-failed') buildFailures.push(`${event.step}: ${event.reason}`);
  });
  outputs = first.outputs;

  // A TFLite source: onnx2tf's fp32 tiny CNN (NHWC input), through tf2onnx, prepare and ovc.
  const tflite = artifactOf('tiny-cnn/convert/tflite/fp32');
  mkdirSync(path.join(root, 'models', 'tiny-tflite'), { recursive: true });
  copyFileSync(path.join(tflite.dir, 'model.tflite'), path.join(root, 'models', 'tiny-tflite', 'model.tflite'));
  const inputName = Object.keys(tflite.artifact.signature.inputLayouts ?? {})[0]!;
  writeRecipe(
    root,
    'tiny-tflite',
    [
      'name: tiny-tflite',
      'version: 0.1.0',
      'license: MIT',
      'description: the tiny CNN as TFLite',
      'task: image-classification',
      `source: { tflite: { path: models/tiny-tflite/model.tflite, sha256: ${sha256File(path.join(root, 'models', 'tiny-tflite', 'model.tflite'))} } }`,
      `inputs: [{ name: "${inputName}", shape: [1, 32, 32, 3], layout: NHWC, range: [0, 1] }]`,
      'targets: { onnx: [fp32], openvino: [fp32, fp16] }',
      '',
    ].join('\n'),
  );
  const second = await buildUpToConvert(root, ['tiny-tflite'], (event) => {
    if (event.type === 'step-failed') buildFailures.push(`${event.step}: ${event.reason}`);
  });
  outputs = { ...outputs, ...second.outputs };
});

after(async () => {
  await stopSharedWorkerPool();
  if (process.env.EDGEZOO_KEEP_TEST_DIRS) console.log(`# kept ${root}`);
  else rmSync(root, { recursive: true, force: true });
});

describe('tiny CNN through every target', () => {
  test('every step of the build succeeded', () => {
    assert.deepEqual(buildFailures, []);
  });

  test('prepare: static shapes, recipe names, metadata and prepare.json', () => {
    const dir = outputs['tiny-cnn/prepare']!;
    const prepared = JSON.parse(readFileSync(path.join(dir, 'prepare.json'), 'utf8'));
    assert.deepEqual(prepared.inputs, [{ name: 'input', dtype: 'float32', shape: [1, 3, 32, 32], layout: 'NCHW' }]);
    assert.deepEqual(
      prepared.outputs.map((o: { name: string; shape: number[] }) => [o.name, o.shape]),
      [['logits', [1, 4]]],
    );
    const meta = Object.fromEntries(loadModel(path.join(dir, 'model.onnx')).metadataProps.map((e) => [e.key, e.value]));
    assert.equal(meta['edgezoo.name'], 'tiny-cnn');
    assert.equal(meta['edgezoo.license'], 'MIT');
    assert.equal(meta['edgezoo.source_sha256'], sha256File(path.join(root, 'models', 'tiny-cnn', 'weights.pt')));
    assert.deepEqual(JSON.parse(meta['edgezoo.layouts']!), { input: 'NCHW', logits: 'ND' });
    assert.match(JSON.parse(meta['edgezoo.tool_versions']!).torch, /^2\.13\.0/);
  });

  const expectations: Array<[string, string]> = [
    ['onnx/fp32', 'float32'],
    ['onnx/fp16', 'float16'],
    ['onnx/dynamic-int8', 'dynamic-int8'],
    ['onnx/int8', 'qdq-int8'],
    ['tflite/fp32', 'float32'],
    ['tflite/fp16', 'float16-weights'],
    ['tflite/dynamic-int8', 'dynamic-range-int8'],
    ['tflite/int8', 'full-integer-int8'],
    ['tflite/int16-act', 'int16-activations'],
    ['openvino/fp32', 'float32'],
    ['openvino/fp16', 'float16-weights'],
    // NNCF post-training quantization (the tf env's nncf pin).
    ['openvino/int8', 'fake-quantize'],
  ];
  for (const [target, quantization] of expectations) {
    test(`${target}: opens in its runtime with the recorded signature, metadata and no Transpose/Flex`, async () => {
      const { dir, artifact } = artifactOf(`tiny-cnn/convert/${target}`);
      const [format, precision] = target.split('/');
      assert.equal(artifact.format, format);
      assert.equal(artifact.precision, precision);
      assert.equal(artifact.inspect.quantizationKind, quantization);
      assert.equal(artifact.inspect.transposeCount, 0);
      assert.deepEqual(artifact.inspect.flexOps, []);
      assert.ok(artifact.bytes > 0);
      const runner = await openRunner(artifact.format, path.join(dir, artifact.primary));
      try {
        const inputs = runner.inputs();
        const outs = runner.outputs();
        assert.equal(inputs.length, 1);
        assert.equal(outs.length, 1);
        if (format === 'tflite') {
          // onnx2tf moves image inputs to NHWC; the signature says so.
          assert.deepEqual(inputs[0]!.dims, [1, 32, 32, 3]);
          assert.equal(artifact.signature.inputLayouts?.[inputs[0]!.name], 'NHWC');
          assert.equal(artifact.signature.inputNames?.input ?? 'input', inputs[0]!.name);
          assert.equal(artifact.signature.outputMapping?.logits, outs[0]!.name);
          const summary = await inspectTflite(path.join(dir, 'model.tflite'));
          const manifest = summary.manifest as { name: string; license: string; layouts: Record<string, string> };
          assert.equal(manifest.name, 'tiny-cnn');
          assert.equal(manifest.license, 'MIT');
          assert.equal(manifest.layouts[inputs[0]!.name], 'NHWC');
        } else {
          assert.deepEqual([inputs[0]!.name, inputs[0]!.dims], ['input', [1, 3, 32, 32]]);
          assert.deepEqual([outs[0]!.name, outs[0]!.dims], ['logits', [1, 4]]);
        }
        if (target === 'tflite/int8') {
          assert.equal(inputs[0]!.dtype, 'int8');
          assert.equal(outs[0]!.dtype, 'int8');
          assert.equal(artifact.signature.inputQuantization?.[inputs[0]!.name]?.dtype, 'int8');
          assert.equal(artifact.signature.outputQuantization?.[outs[0]!.name]?.dtype, 'int8');
        } else {
          assert.equal(inputs[0]!.dtype, 'float32');
          assert.equal(outs[0]!.dtype, 'float32');
        }
        if (format === 'onnx') {
          const meta = Object.fromEntries(
            loadModel(path.join(dir, 'model.onnx')).metadataProps.map((e) => [e.key, e.value]),
          );
          assert.equal(meta['edgezoo.version'], '1.0.0');
          assert.equal(meta['edgezoo.recipe_fingerprint']?.length, 64);
        }
        if (format === 'openvino') {
          const xml = path.join(dir, 'model.xml');
          const info = await runInWorker('tf', 'openvino.info', { model: xml });
          assert.equal(info.edgezoo['edgezoo.name'], 'tiny-cnn');
          assert.deepEqual(JSON.parse(info.edgezoo['edgezoo.layouts']!), { input: 'NCHW', logits: 'ND' });
          // The TypeScript IR reader the build uses sees what OpenVINO's own reader sees.
          const summary = await inspectOpenvinoIr(xml);
          assert.deepEqual(summary.edgezoo, info.edgezoo);
          const { Parameter, Result, Constant, ...ops } = info.ops;
          assert.equal(
            summary.opCount,
            Object.values(ops).reduce((n, c) => n + c, 0),
          );
          assert.equal(summary.flags.transposeCount, info.ops.Transpose ?? 0);
          assert.equal(artifact.inspect.opCount, summary.opCount);
          assert.deepEqual(
            summary.inputs.map((t) => [t.name, t.shape]),
            info.inputs.map((t) => [t.name, t.shape]),
          );
          assert.deepEqual(
            summary.outputs.map((t) => [t.name, t.shape]),
            info.outputs.map((t) => [t.name, t.shape]),
          );
        }
      } finally {
        await runner.dispose();
      }
    });
  }

  test('every artifact agrees with the prepared model on the validation samples', async () => {
    const reference = await preparedReference('tiny-cnn');
    const verdicts: Record<string, unknown> = {};
    for (const [target] of expectations)
      verdicts[target] = await agreesWithPrepared('tiny-cnn', `tiny-cnn/convert/${target}`, reference);
    console.log(`# verdicts ${JSON.stringify(verdicts)}`);
    for (const [target, verdict] of Object.entries(verdicts))
      assert.equal((verdict as { status: string }).status, 'passed', `${target}: ${JSON.stringify(verdict)}`);
  });

  test('sizes: quantised artifacts are smaller than fp32', () => {
    const ratio = (target: string) => artifactOf(`tiny-cnn/convert/${target}`).artifact.sizeRatio;
    assert.equal(ratio('onnx/fp32'), 1);
    assert.equal(ratio('tflite/fp32'), 1);
    for (const target of ['onnx/fp16', 'onnx/int8', 'tflite/fp16', 'tflite/dynamic-int8', 'tflite/int8']) {
      const value = ratio(target);
      assert.ok(value !== null && value < 0.7, `${target}: size ratio ${value}`);
    }
  });
});

describe('litert-torch road', () => {
  test('fp32 and PT2E int8 open in LiteRT; int8 has int8 I/O; layouts recorded', async () => {
    for (const precision of ['fp32', 'int8']) {
      const { dir, artifact } = artifactOf(`tiny-cnn-litert/convert/tflite/${precision}`);
      assert.equal(artifact.converter, 'litert-torch');
      assert.deepEqual(artifact.inspect.flexOps, []);
      const runner = await openRunner('tflite', path.join(dir, 'model.tflite'));
      try {
        const [input] = runner.inputs();
        assert.deepEqual(input!.dims, [1, 3, 32, 32]); // litert-torch keeps PyTorch's NCHW
        assert.equal(artifact.signature.inputLayouts?.[input!.name], 'NCHW');
        assert.equal(input!.dtype, precision === 'int8' ? 'int8' : 'float32');
        assert.equal(runner.outputs()[0]!.dtype, precision === 'int8' ? 'int8' : 'float32');
      } finally {
        await runner.dispose();
      }
      const summary = await inspectTflite(path.join(dir, 'model.tflite'));
      assert.equal((summary.manifest as { name: string }).name, 'tiny-cnn-litert');
    }
  });
});

describe('other sources', () => {
  test('an ONNX source built in TypeScript: dynamic batch fixed, through onnx2tf and ovc', async () => {
    const prepared = JSON.parse(readFileSync(path.join(outputs['conv-onnx/prepare']!, 'prepare.json'), 'utf8'));
    assert.deepEqual(prepared.inputs[0].shape, [1, 3, 16, 16]);
    const tflite = artifactOf('conv-onnx/convert/tflite/fp32');
    const runner = await openRunner('tflite', path.join(tflite.dir, 'model.tflite'));
    try {
      assert.deepEqual(runner.inputs()[0]!.dims, [1, 16, 16, 3]);
      assert.deepEqual(runner.outputs()[0]!.dims, [1, 16, 16, 4]);
      assert.equal(tflite.artifact.signature.outputLayouts?.[runner.outputs()[0]!.name], 'NHWC');
    } finally {
      await runner.dispose();
    }
    const reference = await preparedReference('conv-onnx');
    for (const target of ['onnx/fp32', 'tflite/fp32', 'openvino/fp32']) {
      const verdict = await agreesWithPrepared('conv-onnx', `conv-onnx/convert/${target}`, reference);
      assert.equal(verdict.status, 'passed', `${target}: ${JSON.stringify(verdict)}`);
    }
  });

  test('a TFLite source goes through tf2onnx to ONNX and OpenVINO and still classifies like it', async () => {
    const prepared = JSON.parse(readFileSync(path.join(outputs['tiny-tflite/prepare']!, 'prepare.json'), 'utf8'));
    assert.deepEqual(prepared.inputs[0].shape, [1, 32, 32, 3]);
    assert.equal(prepared.inputs[0].layout, 'NHWC');
    assert.equal(
      JSON.parse(readFileSync(path.join(outputs['tiny-tflite/prepare']!, 'prepare.json'), 'utf8')).toolVersions.tf2onnx,
      '1.17.0',
    );
    for (const target of ['onnx/fp32', 'openvino/fp32', 'openvino/fp16']) {
      const runner = await openRunner(
        target.split('/')[0]!,
        path.join(
          artifactOf(`tiny-tflite/convert/${target}`).dir,
          target.startsWith('onnx') ? 'model.onnx' : 'model.xml',
        ),
      );
      try {
        assert.deepEqual(runner.inputs()[0]!.dims, [1, 32, 32, 3]);
        assert.deepEqual(runner.outputs()[0]!.dims, [1, 4]);
      } finally {
        await runner.dispose();
      }
    }
    // tf2onnx once dropped a FULLY_CONNECTED bias: compare against the TFLite source in LiteRT.
    const recipe = await recipeOf('tiny-tflite');
    const source = await openRunner('tflite', path.join(root, 'models', 'tiny-tflite', 'model.tflite'));
    let reference: ComparedOutputs;
    try {
      reference = await runReference(source, await loadSamples(recipe, root, 'validation'), recipe);
    } finally {
      await source.dispose();
    }
    for (const target of ['onnx/fp32', 'openvino/fp32', 'openvino/fp16']) {
      const verdict = await agreesWithPrepared('tiny-tflite', `tiny-tflite/convert/${target}`, reference);
      assert.equal(verdict.status, 'passed', `${target}: ${JSON.stringify(verdict)}`);
    }
  });
});
