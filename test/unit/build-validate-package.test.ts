/**
 * The validate, benchmark and package step runners in process, without Python: an ONNX source
 * and ONNX artifacts (run by onnxruntime-node), steps planned by the real planner, convert
 * outputs written per the contract (model.onnx + artifact.json) by the test.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { runBenchmarkStep } from '../../src/build/runners/benchmark.js';
import { runPackageStep } from '../../src/build/runners/package.js';
import { runReferenceStep } from '../../src/build/runners/reference.js';
import { runValidateStep } from '../../src/build/runners/validate.js';
import type { StepContext, StepInput, StepResult } from '../../src/build/types.js';
import { buildModel, encodeModel, type BuildModelSpec } from '../../src/formats/onnx/index.js';
import { BUILTIN_CATALOGUE } from '../../src/catalogue/index.js';
import { planBuild, stepOfKind, type PlannedStepOf, type StepKind } from '../../src/plan/index.js';
import type { Recipe } from '../../src/recipe/types.js';
import { loadOutputs, seededRandom } from '../../src/validate/index.js';
import { parseManifest } from '../../src/zoo/index.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-build-validate-'));
after(() => rmSync(root, { recursive: true, force: true }));

function weights(length: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length }, () => random() * 2 - 1);
}

/** Conv 1x1 -> Relu -> GlobalAveragePool -> Flatten -> Gemm: logits [1, 10]. */
function classifier(options: { convScale?: number; logitsName?: string } = {}): Uint8Array {
  const conv = weights(4 * 3, 1).map((value) => value * (options.convScale ?? 1));
  const spec: BuildModelSpec = {
    inputs: [{ name: 'x', shape: [1, 3, 8, 8] }],
    outputs: [{ name: options.logitsName ?? 'logits', shape: [1, 10] }],
    nodes: [
      { op: 'Conv', name: 'conv', inputs: ['x', 'w_conv'], outputs: ['conv_out'] },
      { op: 'Relu', name: 'relu', inputs: ['conv_out'], outputs: ['relu_out'] },
      { op: 'GlobalAveragePool', name: 'pool', inputs: ['relu_out'], outputs: ['pooled'] },
      { op: 'Flatten', name: 'flatten', inputs: ['pooled'], outputs: ['flat'] },
      {
        op: 'Gemm',
        name: 'fc',
        inputs: ['flat', 'w_fc'],
        outputs: [options.logitsName ?? 'logits'],
        attributes: { transB: 1 },
      },
    ],
    initializers: [
      { name: 'w_conv', data: conv, dims: [4, 3, 1, 1] },
      { name: 'w_fc', data: weights(10 * 4, 3), dims: [10, 4] },
    ],
  };
  return encodeModel(buildModel(spec));
}

const recipe: Recipe = {
  name: 'clf',
  version: '1.0.0',
  license: 'MIT',
  description: 'a generated classifier',
  task: 'image-classification',
  tags: [],
  source: { kind: 'onnx', file: { location: { kind: 'path', path: 'models/clf/model.onnx' }, sha256: 'b'.repeat(64) } },
  inputs: [{ name: 'x', shape: [1, 3, 8, 8], dynamic: [], layout: 'NCHW', dtype: 'float32', range: [0, 1] }],
  outputs: [{ name: 'logits', classifier: true }],
  preprocess: { resize: false, channelOrder: 'rgb', scale: 1, mean: [0], std: [1] },
  validation: { samples: '', count: 12, topk: 3, seed: 5 },
  targets: { onnx: ['fp32', 'fp16'] },
  skip: { 'onnx/int8': 'not wanted in this test' },
  converters: {},
  opset: 17,
  tolerances: {},
};
const plan = planBuild([recipe], { versions: {}, platform: 'test' }, {});
const stepById = new Map(plan.steps.map((step) => [step.id, step]));

const fetchDir = path.join(root, 'fetch');
mkdirSync(fetchDir);
writeFileSync(path.join(fetchDir, 'source.onnx'), classifier());
const ok: StepResult = { status: 'ok' };

/** A convert step's folder as the contract describes it. */
function convertOutput(name: string, model: Uint8Array, signature: Record<string, unknown> = {}): StepInput {
  const dir = path.join(root, name);
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'model.onnx'), model);
  const record = {
    format: 'onnx',
    precision: 'fp32',
    converter: 'test',
    primary: 'model.onnx',
    files: ['model.onnx'],
    signature,
    toolVersions: { 'test-converter': '1.0' },
    inspect: { transposeCount: 0, flexOps: [], customOps: [], quantizationKind: 'none', opCount: 5 },
    bytes: model.length,
    sizeRatio: 1,
    layouts: {},
    metadataLocation: 'onnx-metadata_props',
  };
  writeFileSync(path.join(dir, 'artifact.json'), JSON.stringify(record));
  return { dir, files: ['artifact.json', 'model.onnx'], result: ok };
}

function context(
  outName: string,
  inputs: Record<string, StepInput>,
  failedDeps: Record<string, string> = {},
): StepContext {
  const outDir = path.join(root, outName);
  mkdirSync(outDir);
  return {
    outDir,
    inputs,
    failedDeps,
    log: () => undefined,
    signal: new AbortController().signal,
    recipe,
    projectRoot: root,
    catalogue: BUILTIN_CATALOGUE,
  };
}

function step<K extends StepKind>(id: string, kind: K): PlannedStepOf<K> {
  const found = stepById.get(id);
  assert.ok(found, id);
  return stepOfKind(found, kind);
}

const fetched: StepInput = { dir: fetchDir, files: ['source.onnx'], result: ok };
let reference: StepInput;
let passedValidation: StepInput;
let failedValidation: StepInput;
let passedConvert: StepInput;
let failedConvert: StepInput;
let benchmark: StepInput;

test('the reference step runs the source once in its own runtime and keeps its outputs', async () => {
  const ctx = context('reference', { 'clf/fetch': fetched });
  const result = (await runReferenceStep(step('clf/reference', 'reference'), ctx)) as StepResult;
  assert.deepEqual(result, { status: 'ok', figures: { samples: 12, synthetic: true, outputs: 1 } });
  assert.deepEqual(readdirSync(ctx.outDir).sort(), ['0.npy', 'index.json']);
  const outputs = await loadOutputs(ctx.outDir);
  assert.deepEqual(Object.keys(outputs), ['logits']);
  assert.deepEqual(outputs.logits!.tensor.dims, [12, 10]);
  reference = { dir: ctx.outDir, files: ['0.npy', 'index.json'], result };
});

test('the same model passes, with an output renamed by the converter followed through outputMapping', async () => {
  passedConvert = convertOutput('convert-fp32', classifier({ logitsName: 'Identity:0' }), {
    outputMapping: { logits: 'Identity:0' },
  });
  const ctx = context('validate-fp32', { 'clf/convert/onnx/fp32': passedConvert, 'clf/reference': reference });
  const result = (await runValidateStep(step('clf/validate/onnx/fp32', 'validate'), ctx)) as StepResult;
  assert.equal(result.status, 'ok', JSON.stringify(result));
  const validation = JSON.parse(readFileSync(path.join(ctx.outDir, 'validation.json'), 'utf8'));
  assert.equal(validation.status, 'passed');
  assert.equal(validation.synthetic, true);
  assert.equal(validation.samples, 12);
  assert.equal(validation.outputs[0].artifactName, 'Identity:0');
  assert.ok(validation.outputs[0].metrics.maxAbsError <= 1e-6);
  const tensors = JSON.parse(readFileSync(path.join(ctx.outDir, 'tensors.json'), 'utf8'));
  assert.deepEqual(
    tensors.outputs.map((o: { name: string }) => o.name),
    ['Identity:0'],
  );
  passedValidation = { dir: ctx.outDir, files: ['tensors.json', 'validation.json'], result };
});

test('a perturbed artifact is a deterministic failure naming the metric', async () => {
  failedConvert = convertOutput('convert-fp16', classifier({ convScale: 1.3 }));
  const ctx = context('validate-fp16', { 'clf/convert/onnx/fp16': failedConvert, 'clf/reference': reference });
  const result = (await runValidateStep(step('clf/validate/onnx/fp16', 'validate'), ctx)) as StepResult;
  assert.equal(result.status, 'failed');
  assert.match(
    (result as { reason: string }).reason,
    /^output 'logits': max abs error \S+ exceeds the allowed \S+ \(atol 0\.001 \+ rtol 0\.02 × max\|reference\| \S+\)/,
  );
  failedValidation = { dir: ctx.outDir, files: ['tensors.json', 'validation.json'], result };
});

test('benchmark.json has load time, median and p90 per thread count and peak memory', async () => {
  const ctx = context('benchmark-fp32', {
    'clf/convert/onnx/fp32': passedConvert,
    'clf/validate/onnx/fp32': passedValidation,
  });
  const result = (await runBenchmarkStep(step('clf/benchmark/onnx/fp32', 'benchmark'), ctx)) as StepResult;
  assert.equal(result.status, 'ok');
  const record = JSON.parse(readFileSync(path.join(ctx.outDir, 'benchmark.json'), 'utf8'));
  assert.equal(record.runtime, 'onnxruntime');
  assert.equal(record.runs[0].threads, 1);
  for (const run of record.runs) assert.ok(run.medianMs > 0 && run.p90Ms >= run.medianMs && run.iterations === 30);
  assert.ok(record.loadMs > 0 && record.peakRssMb >= 0);
  benchmark = { dir: ctx.outDir, files: ['benchmark.json'], result };
});

test('package lists the passed artifact with figures, the failed one with its reason, the skipped target, and says synthetic', async () => {
  const ctx = context(
    'package',
    {
      'clf/fetch': fetched,
      'clf/convert/onnx/fp32': passedConvert,
      'clf/validate/onnx/fp32': passedValidation,
      'clf/benchmark/onnx/fp32': benchmark,
      'clf/convert/onnx/fp16': failedConvert,
      'clf/validate/onnx/fp16': failedValidation,
    },
    {
      'clf/validate/onnx/fp16': 'output logits failed',
      'clf/benchmark/onnx/fp16': 'blocked by clf/validate/onnx/fp16',
    },
  );
  await runPackageStep(step('clf/package', 'package'), ctx);
  assert.deepEqual(readdirSync(ctx.outDir).sort(), ['README.md', 'clf-1.0.0-onnx-fp32.onnx', 'manifest.json']);
  const manifest = parseManifest(readFileSync(path.join(ctx.outDir, 'manifest.json'), 'utf8'), 'manifest.json');
  assert.equal(manifest.artifacts.length, 1);
  const artifact = manifest.artifacts[0]!;
  assert.equal(artifact.validation.synthetic, true);
  assert.deepEqual(
    artifact.signature.outputs.map((o) => o.name),
    ['Identity:0'],
  );
  assert.equal(artifact.signature.inputs[0]!.layout, 'NCHW');
  assert.equal(artifact.benchmark?.threads, 1);
  assert.equal(artifact.toolVersions['test-converter'], '1.0');
  assert.deepEqual(
    manifest.failed.map((f) => `${f.format}/${f.precision}`),
    ['onnx/fp16'],
  );
  assert.match(manifest.failed[0]!.reason, /^output 'logits': max abs error/);
  assert.deepEqual(manifest.skipped, [{ format: 'onnx', precision: 'int8', reason: 'not wanted in this test' }]);
  assert.deepEqual(manifest.source, { kind: 'onnx', sha256: 'b'.repeat(64), location: 'models/clf/model.onnx' });
  assert.match(
    readFileSync(path.join(ctx.outDir, 'README.md'), 'utf8'),
    /validation samples \(synthetic: seeded random inputs\)/,
  );
});

test('package with no passed artifact returns a failure and writes no version', async () => {
  const ctx = context(
    'package-none',
    { 'clf/fetch': fetched, 'clf/convert/onnx/fp16': failedConvert, 'clf/validate/onnx/fp16': failedValidation },
    {
      'clf/convert/onnx/fp32': 'onnx2tf crashed',
      'clf/validate/onnx/fp32': 'blocked by clf/convert/onnx/fp32',
      'clf/benchmark/onnx/fp32': 'blocked by clf/convert/onnx/fp32',
      'clf/validate/onnx/fp16': 'output logits failed',
      'clf/benchmark/onnx/fp16': 'blocked by clf/validate/onnx/fp16',
    },
  );
  const result = await runPackageStep(step('clf/package', 'package'), ctx);
  assert.deepEqual(result, {
    status: 'failed',
    reason: 'no version written for clf@1.0.0: none of its 2 targets passed',
  });
  assert.deepEqual(readdirSync(ctx.outDir), []);
});
