/**
 * One onnx2tf run per model (issue 14.1), with the real converter (needs the tf venv): the plan
 * groups fp32 and fp16 into one convert-run step whose float run makes both artifacts; each
 * precision keeps its own convert step, artifact.json and judge verdict. The same recipe
 * planned per precision makes the same artifacts (byte for byte once each file's own step
 * fingerprint, written into its metadata, is blanked out). A precision that fails only on its
 * numbers tries every applicable strategy, then is kept so validation reports its metrics, with
 * every strategy named.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { executePlan, loadProjectPlan, registerBuiltinRunners, StepRunnerRegistry } from '../../src/build/index.js';
import { ARTIFACT_FILE, JUDGE_FILE, readStepFile } from '../../src/build/step-files.js';
import { LocalCache } from '../../src/cache/index.js';
import { buildModel, saveModel } from '../../src/formats/onnx/index.js';
import type { ConverterRuns } from '../../src/plan/index.js';
import { stopSharedWorkerPool } from '../../src/toolchain/pool.js';
import { sha256File, writeRecipe } from './convert-project.js';

const KINDS = new Set(['fetch', 'prepare', 'reference', 'convert-run', 'convert']);

async function build(root: string, mode: ConverterRuns) {
  const { recipes, plan } = await loadProjectPlan(root, ['mlp'], {}, { converterRuns: mode });
  const steps = plan.steps.filter((step) => KINDS.has(step.kind));
  const registry = new StepRunnerRegistry();
  registerBuiltinRunners(registry);
  const cache = new LocalCache(path.join(root, 'artifacts', `cache-${mode}`));
  const started: string[] = [];
  const summary = await executePlan({
    plan: { ...plan, steps },
    recipes,
    projectRoot: root,
    cache,
    runners: registry,
    jobs: 2,
    onEvent: (event) => {
      if (event.type === 'step-start') started.push(event.step);
    },
  });
  const outputs: Record<string, string> = {};
  for (const step of steps) {
    const entry = await cache.get(step.fingerprint);
    if (entry) outputs[step.id] = entry.dir;
  }
  return { summary, outputs, started, steps };
}

/**
 * Whether two .tflite files are the same conversion: the same length, and every byte that
 * differs is a letter, digit or `_` on both sides, i.e. inside text that depends on the step,
 * not the conversion: the step fingerprint in the metadata, and the Keras layer counters in
 * tensor names (`model_2/tf.linalg.matmul_1/MatMul`: TF numbers layers per process, so a worker
 * that converted before names them `model_8/..._5`). Weights, ops and shapes must be identical.
 */
function sameConversion(a: string, b: string): string | undefined {
  const x = readFileSync(a);
  const y = readFileSync(b);
  if (x.length !== y.length) return `sizes differ: ${x.length} vs ${y.length}`;
  const text = (byte: number) => /[0-9a-z_]/.test(String.fromCharCode(byte));
  for (let i = 0; i < x.length; i += 1)
    if (x[i] !== y[i] && !(text(x[i]!) && text(y[i]!))) return `byte ${i} differs (${x[i]} vs ${y[i]})`;
  return undefined;
}

test('one onnx2tf run makes fp32 and fp16; the per-precision plan makes the same artifacts', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-converter-runs-'));
  try {
    mkdirSync(path.join(root, 'models', 'mlp'), { recursive: true });
    const file = path.join(root, 'models', 'mlp', 'model.onnx');
    const weights = Array.from({ length: 16 * 8 }, (_, i) => Math.sin(i) / 4);
    saveModel(
      buildModel({
        opset: 17,
        inputs: [{ name: 'x', shape: [1, 16] }],
        outputs: [{ name: 'y', shape: [1, 8] }],
        initializers: [{ name: 'w', data: weights, dims: [16, 8] }],
        nodes: [
          { op: 'MatMul', inputs: ['x', 'w'], outputs: ['h'], name: 'matmul' },
          { op: 'Tanh', inputs: ['h'], outputs: ['y'], name: 'tanh' },
        ],
      }),
      file,
    );
    writeRecipe(
      root,
      'mlp',
      [
        'name: mlp',
        'version: 0.1.0',
        'license: MIT',
        'description: a matmul and a tanh',
        'task: test',
        `source: { onnx: { path: models/mlp/model.onnx, sha256: ${sha256File(file)} } }`,
        'inputs: [{ name: x, shape: [1, 16], range: [-1, 1] }]',
        'targets: { tflite: [fp32, fp16] }',
        // fp16 cannot meet this: its attempts all fail on numbers.
        'tolerances: { tflite/fp16: { atol: 1.0e-12, rtol: 0 } }',
        '',
      ].join('\n'),
    );

    const grouped = await build(root, 'grouped');
    assert.ok(grouped.steps.some((s) => s.id === 'mlp/convert-run/tflite/float'));
    const runs = grouped.started.filter((id) => id.includes('/convert'));
    assert.deepEqual(runs.sort(), [
      'mlp/convert-run/tflite/float',
      'mlp/convert/tflite/fp16',
      'mlp/convert/tflite/fp32',
    ]);
    const fp32 = await readStepFile(grouped.outputs['mlp/convert/tflite/fp32']!, ARTIFACT_FILE);
    assert.deepEqual(
      fp32.attempts?.map((a) => [a.strategy, a.outcome]),
      [['default', 'passed']],
    );
    const judged = await readStepFile(grouped.outputs['mlp/convert/tflite/fp32']!, JUDGE_FILE);
    assert.equal(judged.validation.status, 'passed');
    const fp16 = await readStepFile(grouped.outputs['mlp/convert/tflite/fp16']!, ARTIFACT_FILE);
    assert.equal(fp16.inspect.quantizationKind, 'float16-weights');
    // default, then no-strict (the only other strategy that applies to a rank-2 MatMul): both
    // fail on numbers.
    assert.deepEqual(
      fp16.attempts?.map((a) => [a.strategy, a.stage]),
      [
        ['default', 'numbers'],
        ['no-strict', 'numbers'],
      ],
    );
    const fp16Judge = await readStepFile(grouped.outputs['mlp/convert/tflite/fp16']!, JUDGE_FILE);
    assert.equal(fp16Judge.validation.status, 'failed');
    assert.match(fp16Judge.validation.reason ?? '', /2 strategies tried: onnx2tf default: rejected \(numbers\)/);

    const single = await build(root, 'per-precision');
    assert.ok(!single.steps.some((s) => s.kind === 'convert-run'));
    for (const precision of ['fp32', 'fp16']) {
      const a = grouped.outputs[`mlp/convert/tflite/${precision}`]!;
      const b = single.outputs[`mlp/convert/tflite/${precision}`]!;
      assert.equal(
        sameConversion(path.join(a, 'model.tflite'), path.join(b, 'model.tflite')),
        undefined,
        `${precision}: the grouped run's artifact equals the per-precision one`,
      );
      const ja = await readStepFile(a, JUDGE_FILE);
      const jb = await readStepFile(b, JUDGE_FILE);
      assert.equal(ja.validation.status, jb.validation.status);
    }
    assert.equal(grouped.summary.ok, true);
  } finally {
    await stopSharedWorkerPool();
    if (!process.env.KEEP) rmSync(root, { recursive: true, force: true });
    else console.log(`kept ${root}`);
  }
});
