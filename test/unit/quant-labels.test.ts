/**
 * Honest labels: an artifact whose bytes are not its precision fails its convert step. The case
 * that shipped: TFLite dynamic range leaves every weight under 1024 elements in float, so a small
 * model came back float32 and was published as "dynamic-int8".
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { runConvertStep } from '../../src/build/runners/convert.js';
import { PREPARE_FILE, writeStepFile } from '../../src/build/step-files.js';
import type { StepContext } from '../../src/build/types.js';
import { BUILTIN_CATALOGUE, type BackendSpec } from '../../src/catalogue/index.js';
import { buildModel, encodeModel } from '../../src/formats/onnx/index.js';
import { readTflite, summarizeTflite, tfliteFixtures } from '../../src/formats/tflite/index.js';
import { planBuild, stepOfKind } from '../../src/plan/index.js';
import { labelProblem } from '../../src/quant/labels.js';
import { parseRecipeText } from '../../src/recipe/index.js';
import { stopSharedWorkerPool } from '../../src/toolchain/pool.js';
import { TEST_TOOLCHAIN } from './build-fixtures.js';

const tflite = BUILTIN_CATALOGUE.requireFormat('tflite');

/** A converter that "quantised" nothing: it writes the float32 model whatever it is asked for. */
const lazyBackend: BackendSpec = {
  name: 'lazy-quantizer',
  summary: 'returns float32 whatever the precision (test)',
  stage: 'convert',
  from: 'onnx',
  to: 'tflite',
  precisions: ['fp32', 'dynamic-int8'],
  env: null,
  tools: [],
  cacheKeyTools: [],
  requires: [],
  memory: 'light',
  strategies: [{ name: 'default', options: {} }],
  async convert(job) {
    await writeFile(path.join(job.outDir, 'model.tflite'), tfliteFixtures.fullyConnectedModel('float32'));
    return { primary: 'model.tflite', files: ['model.tflite'], signature: {} };
  },
};

describe('honest labels', () => {
  it('each format names the inspected kinds a precision may have', () => {
    const kindOf = (bytes: Uint8Array) => summarizeTflite(readTflite(bytes), bytes).flags.quantization;
    const { fullyConnectedModel } = tfliteFixtures;
    assert.equal(labelProblem(tflite, 'dynamic-int8', kindOf(fullyConnectedModel('dynamic-range-int8'))), undefined);
    assert.equal(labelProblem(tflite, 'int8', kindOf(fullyConnectedModel('full-integer-int8'))), undefined);
    assert.equal(labelProblem(tflite, 'int16-act', kindOf(fullyConnectedModel('int16-activations'))), undefined);
    assert.equal(labelProblem(tflite, 'fp16', kindOf(fullyConnectedModel('float16-weights'))), undefined);
    assert.equal(
      labelProblem(tflite, 'dynamic-int8', kindOf(fullyConnectedModel('float32'))),
      'mislabelled artifact: a TFLite dynamic-int8 must inspect as dynamic-range-int8, this one is float32: the converter quantised nothing (no layer it quantises for this precision, or all below its size threshold); it is not published under that label',
    );
    const onnx = BUILTIN_CATALOGUE.requireFormat('onnx');
    assert.match(
      labelProblem(onnx, 'int8', 'float32') ?? '',
      /must inspect as qdq-int8 or qoperator or qdq-int8-int16, this one is float32/,
    );
    // Some activations 16-bit is still an int8 artifact; mostly 16-bit (A16W8) is not.
    assert.equal(labelProblem(onnx, 'int8', 'qdq-int8-int16'), undefined);
    assert.match(labelProblem(onnx, 'int8', 'qdq-int16') ?? '', /this one is qdq-int16/);
    assert.equal(labelProblem(onnx, 'dynamic-int8', 'dynamic-int8'), undefined);
    assert.match(labelProblem(BUILTIN_CATALOGUE.requireFormat('openvino'), 'int8', 'float32') ?? '', /fake-quantize/);
  });

  describe('the convert step', () => {
    let root: string;
    after(async () => {
      // With a tf env installed the fp32 step loads its artifact in LiteRT, in the shared pool's
      // worker: left running, it keeps this test process alive.
      await stopSharedWorkerPool();
      await rm(root, { recursive: true, force: true });
    });

    it('fails a float32 artifact labelled dynamic-int8, with the reason, and passes the same bytes as fp32', async () => {
      root = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-labels-'));
      const catalogue = BUILTIN_CATALOGUE.withEntries({ backends: [lazyBackend] });
      const parsed = parseRecipeText(
        `name: tiny
version: 1.0.0
license: MIT
description: A tiny model.
task: image-classification
source:
  onnx: { path: models/tiny/model.onnx, sha256: ${'a'.repeat(64)} }
inputs:
  - { name: x, shape: [1, 4], layout: NC, range: [0, 1] }
targets:
  tflite: [fp32, dynamic-int8]
`,
        'recipes/tiny.yaml',
        catalogue,
      );
      assert.deepEqual(parsed.problems, []);
      const recipe = parsed.recipe!;
      const plan = planBuild([recipe], TEST_TOOLCHAIN, {}, catalogue);
      const prepareDir = path.join(root, 'prepare');
      await mkdir(prepareDir);
      await writeFile(
        path.join(prepareDir, 'model.onnx'),
        encodeModel(
          buildModel({
            inputs: [{ name: 'x', shape: [1, 4] }],
            outputs: [{ name: 'y', shape: [1, 4] }],
            nodes: [{ op: 'Relu', name: 'relu', inputs: ['x'], outputs: ['y'] }],
          }),
        ),
      );
      await writeStepFile(prepareDir, PREPARE_FILE, {
        inputs: [{ name: 'x', dtype: 'float32', shape: [1, 4], layout: 'NC' }],
        outputs: [{ name: 'y', dtype: 'float32', shape: [1, 2], layout: 'NC' }],
        toolVersions: { edgezoo: '0.1.0' },
      });
      const convert = async (precision: string) => {
        const planned = stepOfKind(plan.steps.find((s) => s.id === `tiny/convert/tflite/${precision}`)!, 'convert');
        // A plain convert step through the lazy backend (not a grouped onnx2tf run).
        const { run: _run, ...own } = planned.params;
        const step = { ...planned, deps: ['tiny/prepare'], params: { ...own, converter: lazyBackend.name } };
        const outDir = path.join(root, precision);
        await mkdir(outDir);
        const ctx: StepContext = {
          outDir,
          inputs: { 'tiny/prepare': { dir: prepareDir, files: ['model.onnx'], result: { status: 'ok' } } },
          failedDeps: {},
          log: () => undefined,
          signal: new AbortController().signal,
          recipe,
          projectRoot: root,
          catalogue,
        };
        return { result: (await runConvertStep(step, ctx)) ?? { status: 'ok' as const }, files: await readdir(outDir) };
      };
      const dynamic = await convert('dynamic-int8');
      assert.equal(dynamic.result.status, 'failed');
      assert.match(
        dynamic.result.status === 'failed' ? dynamic.result.reason : '',
        /rejected \(ops\): mislabelled artifact: a TFLite dynamic-int8 must inspect as dynamic-range-int8, this one is float32/,
      );
      // No artifact.json: nothing downstream can take it for a dynamic-int8 artifact.
      assert.ok(!dynamic.files.includes('artifact.json'), dynamic.files.join());
      const fp32 = await convert('fp32');
      assert.equal(fp32.result.status, 'ok');
      assert.ok(fp32.files.includes('artifact.json'));
    });
  });
});
