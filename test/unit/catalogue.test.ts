/**
 * The catalogue is the one place formats and converters are described: a test-only format
 * (`coreml`) and a test-only backend (`coremltools`), each declared once below and nowhere else,
 * show up in the recipe schema, the plan, doctor's probes, env versions and the packaged zoo
 * version. The test format stores ONNX bytes under its own extension and names onnxruntime as
 * its runtime, so the real convert, reference, validate, benchmark and package runners run it
 * without Python.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { runBenchmarkStep } from '../../src/build/runners/benchmark.js';
import { runConvertStep } from '../../src/build/runners/convert.js';
import { runPackageStep } from '../../src/build/runners/package.js';
import { runReferenceStep } from '../../src/build/runners/reference.js';
import { runValidateStep } from '../../src/build/runners/validate.js';
import { ARTIFACT_FILE, PREPARE_FILE, readStepFile, writeStepFile } from '../../src/build/step-files.js';
import type { StepContext, StepInput, StepResult, StepRunner } from '../../src/build/types.js';
import { BUILTIN_CATALOGUE, type BackendSpec, type FormatSpec, MEMORY_MIB } from '../../src/catalogue/index.js';
import { buildModel, encodeModel } from '../../src/formats/onnx/index.js';
import { planBuild, stepOfKind, type BuildPlan, type StepKind } from '../../src/plan/index.js';
import { parseRecipeText, recipeJsonSchema, type Recipe } from '../../src/recipe/index.js';
import { doctorProbes } from '../../src/toolchain/doctor.js';
import { parseManifest } from '../../src/zoo/index.js';
import { TEST_TOOLCHAIN } from './build-fixtures.js';

const onnx = BUILTIN_CATALOGUE.requireFormat('onnx');

/** The test-only format: ONNX bytes in a `.mlmodel` file plus a `.weights` companion. */
const coremlFormat: FormatSpec = {
  name: 'coreml',
  extensions: ['.mlmodel'],
  match: () => false,
  inspect: (file) => onnx.inspect(file),
  formatSummary: (summary) => ['format: Core ML (test)', ...onnx.formatSummary(summary)],
  title: 'Core ML',
  defaultPrecisions: ['fp32'],
  companionExtensions: ['.weights'],
  metadataLocation: 'coreml-user-defined-metadata',
  finishArtifact: (ctx) => onnx.finishArtifact(ctx),
  runtime: {
    name: 'onnxruntime',
    tool: 'coremltools',
    env: 'torch',
    requires: [{ env: 'torch', distribution: 'coremltools', probes: [{ import: 'coremltools.models' }] }],
    open: (ctx, threads) => onnx.runtime.open(ctx, threads),
  },
};

/** The test-only converter: copies the prepared model and writes a companion file. */
const coremltoolsBackend: BackendSpec = {
  name: 'coremltools',
  summary: 'ONNX -> Core ML (test)',
  stage: 'convert',
  from: 'onnx',
  to: 'coreml',
  precisions: ['fp32', 'fp16'],
  env: 'torch',
  tools: ['coremltools'],
  cacheKeyTools: ['coremltools'],
  requires: [{ env: 'torch', distribution: 'coremltools', probes: [{ cli: ['coremlc', '--version'] }] }],
  memory: 'torch',
  strategies: [{ name: 'default', options: {} }],
  async convert(job) {
    await copyFile(job.inputFile!, path.join(job.outDir, 'model.mlmodel'));
    await writeFile(path.join(job.outDir, 'model.weights'), `weights of ${job.model} at ${job.precision}\n`);
    job.log(`coremltools (test): strategy ${job.strategy.name}`);
    return { primary: 'model.mlmodel', files: ['model.mlmodel', 'model.weights'], signature: {} };
  },
};

const catalogue = BUILTIN_CATALOGUE.withEntries({ formats: [coremlFormat], backends: [coremltoolsBackend] });

const RECIPE = `name: tiny
version: 1.0.0
license: MIT
description: A tiny classifier.
task: image-classification
source:
  onnx: { path: models/tiny/model.onnx, sha256: ${'a'.repeat(64)} }
inputs:
  - { name: x, shape: [1, 3, 8, 8], layout: NCHW, range: [0, 1] }
outputs:
  - { name: logits, classifier: true }
validation: { count: 4, topk: 3 }
targets:
  onnx: [fp32]
  coreml: [fp16]
`;

function loadTiny(): Recipe {
  const parsed = parseRecipeText(RECIPE, 'recipes/tiny.yaml', catalogue);
  assert.deepEqual(parsed.problems, []);
  return parsed.recipe!;
}

describe('a format and a converter added to the catalogue, nowhere else', () => {
  it('appear in the recipe schema: a target key with the backend precisions, and in the defaults', () => {
    const schema = recipeJsonSchema(catalogue) as {
      properties: { targets: { properties: Record<string, { items: { enum: string[] } }>; default: object } };
    };
    assert.deepEqual(schema.properties.targets.properties.coreml!.items.enum, ['fp32', 'fp16']);
    assert.deepEqual(schema.properties.targets.default, {
      onnx: ['fp32', 'fp16'],
      tflite: ['fp32', 'fp16', 'dynamic-int8'],
      openvino: ['fp32', 'fp16'],
      coreml: ['fp32'],
    });
    const builtin = recipeJsonSchema() as typeof schema;
    assert.equal(builtin.properties.targets.properties.coreml, undefined);
    // The built-in catalogue does not know the format: the same recipe is refused, with where.
    const refused = parseRecipeText(RECIPE, 'recipes/tiny.yaml');
    assert.deepEqual(
      refused.problems.map((p) => `${p.line}:${p.col}: ${p.message}`),
      ['15:3: targets: unknown key "coreml"; expected one of: onnx, tflite, openvino'],
    );
  });

  it('appear in the plan: a convert step through the backend, validated and benchmarked in the runtime', () => {
    const plan = planBuild([loadTiny()], TEST_TOOLCHAIN, {}, catalogue);
    const convert = stepOfKind(plan.steps.find((s) => s.id === 'tiny/convert/coreml/fp16')!, 'convert');
    assert.equal(convert.params.converter, 'coremltools');
    assert.deepEqual(convert.deps, ['tiny/prepare', 'tiny/reference']);
    assert.deepEqual(convert.tools, ['edgezoo', 'coremltools']);
    assert.equal(convert.resource, 'heavy');
    assert.equal(convert.memoryMiB, MEMORY_MIB.torch);
    const validate = plan.steps.find((s) => s.id === 'tiny/validate/coreml/fp16')!;
    assert.deepEqual(validate.tools, ['edgezoo', 'coremltools']);
    assert.ok(plan.steps.some((s) => s.id === 'tiny/benchmark/coreml/fp16'));
    // The tool has no pin in the locks: the plan says so.
    assert.ok(plan.missingToolVersions.includes('coremltools'));
    assert.equal(catalogue.cacheKeyToolEnvs().get('coremltools'), 'torch');
    assert.throws(() => planBuild([loadTiny()], TEST_TOOLCHAIN, {}), {
      message: 'recipes/tiny.yaml: target format "coreml" is not in the catalogue (onnx, tflite, openvino)',
    });
  });

  it('appear in doctor: the runtime import and the backend CLI in its env, and in the env versions', () => {
    const probes = doctorProbes(catalogue, 'torch');
    assert.ok(probes.imports.some((p) => p.tool === 'coremltools' && p.module === 'coremltools.models'));
    assert.ok(probes.clis.some((p) => p.tool === 'coremlc' && p.dist === 'coremltools'));
    assert.ok(catalogue.distributions('torch').includes('coremltools'));
    assert.ok(!BUILTIN_CATALOGUE.distributions('torch').includes('coremltools'));
    assert.ok(!doctorProbes(BUILTIN_CATALOGUE, 'torch').clis.some((p) => p.tool === 'coremlc'));
  });

  describe('appear in the packaged zoo version, through the real runners', () => {
    let root: string;
    let plan: BuildPlan;
    const outputs: Record<string, StepInput> = {};
    after(() => rm(root, { recursive: true, force: true }));

    async function run<K extends StepKind>(id: string, kind: K, runner: StepRunner<K>): Promise<StepResult> {
      const step = stepOfKind(plan.steps.find((s) => s.id === id)!, kind);
      const outDir = path.join(root, 'out', id.replace(/\//g, '-'));
      await mkdir(outDir, { recursive: true });
      const inputs = Object.fromEntries(step.deps.filter((dep) => outputs[dep]).map((dep) => [dep, outputs[dep]!]));
      const ctx: StepContext = {
        outDir,
        inputs,
        failedDeps: {},
        log: () => undefined,
        signal: new AbortController().signal,
        recipe: loadTiny(),
        projectRoot: root,
        catalogue,
      };
      const result = (await runner(step, ctx)) ?? { status: 'ok' };
      outputs[id] = { dir: outDir, files: await readdir(outDir), result };
      return result;
    }

    it('converts, validates, benchmarks and packages a coreml artifact with its companion file', async () => {
      root = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-catalogue-'));
      plan = planBuild([loadTiny()], TEST_TOOLCHAIN, {}, catalogue);
      const model = encodeModel(
        buildModel({
          inputs: [{ name: 'x', shape: [1, 3, 8, 8] }],
          outputs: [{ name: 'logits', shape: [1, 3] }],
          nodes: [
            { op: 'GlobalAveragePool', name: 'pool', inputs: ['x'], outputs: ['pooled'] },
            { op: 'Flatten', name: 'flatten', inputs: ['pooled'], outputs: ['logits'] },
          ],
        }),
      );
      // What fetch and prepare leave (prepare needs the Python toolchain; its contract is written here).
      for (const [id, file] of [
        ['tiny/fetch', 'source.onnx'],
        ['tiny/prepare', 'model.onnx'],
      ] as const) {
        const dir = path.join(root, 'out', id.replace(/\//g, '-'));
        await mkdir(dir, { recursive: true });
        await writeFile(path.join(dir, file), model);
        outputs[id] = { dir, files: [file], result: { status: 'ok' } };
      }
      await writeStepFile(outputs['tiny/prepare']!.dir, PREPARE_FILE, {
        inputs: [{ name: 'x', dtype: 'float32', shape: [1, 3, 8, 8], layout: 'NCHW' }],
        outputs: [{ name: 'logits', dtype: 'float32', shape: [1, 3], layout: 'NC' }],
        toolVersions: { edgezoo: '0.1.0' },
      });

      assert.equal((await run('tiny/convert/coreml/fp16', 'convert', runConvertStep)).status, 'ok');
      const record = await readStepFile(outputs['tiny/convert/coreml/fp16']!.dir, ARTIFACT_FILE);
      assert.deepEqual(record.files, ['model.mlmodel', 'model.weights']);
      assert.equal(record.converter, 'coremltools');
      assert.equal(record.strategy, 'default');
      assert.equal(record.metadataLocation, 'coreml-user-defined-metadata');
      assert.equal((await run('tiny/reference', 'reference', runReferenceStep)).status, 'ok');
      const validated = await run('tiny/validate/coreml/fp16', 'validate', runValidateStep);
      assert.equal(validated.status, 'ok', JSON.stringify(validated));
      assert.equal((await run('tiny/benchmark/coreml/fp16', 'benchmark', runBenchmarkStep)).status, 'ok');
      // The onnx/fp32 target was not built here: the package lists it as failed, and packages coreml.
      await run('tiny/package', 'package', runPackageStep);

      const packaged = outputs['tiny/package']!;
      assert.ok(packaged.files.includes('tiny-1.0.0-coreml-fp16.mlmodel'), packaged.files.join());
      assert.ok(packaged.files.includes('tiny-1.0.0-coreml-fp16.weights'));
      const manifest = parseManifest(await readFile(path.join(packaged.dir, 'manifest.json'), 'utf8'), 'manifest');
      const artifact = manifest.artifacts.find((a) => a.format === 'coreml')!;
      assert.deepEqual(
        artifact.files.map((f) => [f.name, f.role]),
        [
          ['tiny-1.0.0-coreml-fp16.mlmodel', 'model'],
          ['tiny-1.0.0-coreml-fp16.weights', 'weights'],
        ],
      );
      assert.equal(artifact.validation.status, 'passed');
      // The benchmark names the format's runtime tool with the version the artifact recorded.
      assert.equal(artifact.benchmark?.runtime, 'onnxruntime unknown');
      assert.equal(artifact.toolVersions.coremltools, 'unknown');
    });
  });
});
