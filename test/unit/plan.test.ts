import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  PlanError,
  planBuild,
  canonicalJson,
  stepOfKind,
  type BuildPlan,
  type PlannedStep,
} from '../../src/plan/index.js';
import { makeRecipe, targets, TEST_TOOLCHAIN } from './build-fixtures.js';
import { onnx2tfBackend } from '../../src/toolchain/backends/onnx2tf.js';
import { torchOnnxBackend } from '../../src/toolchain/backends/pytorch-onnx.js';

const byId = (plan: BuildPlan) => new Map(plan.steps.map((step) => [step.id, step]));
const fp = (plan: BuildPlan, id: string) => {
  const step = byId(plan).get(id);
  assert.ok(step, `no step ${id}`);
  return step.fingerprint;
};
const changedIds = (a: BuildPlan, b: BuildPlan) =>
  a.steps
    .filter((step) => fp(b, step.id) !== step.fingerprint)
    .map((step) => step.id)
    .sort();

describe('planBuild', () => {
  it('plans fetch -> prepare -> reference, convert -> validate -> benchmark -> package with readable ids', () => {
    const plan = planBuild(
      [
        makeRecipe('mobilenet-v2', {
          targets: targets('onnx/fp32', 'tflite/int8'),
          calibration: { samples: 'models/mobilenet-v2/calib/*.npy', count: 8 },
        }),
      ],
      TEST_TOOLCHAIN,
      {
        'models/mobilenet-v2/calib/*.npy': 'c'.repeat(64),
      },
    );
    assert.deepEqual(
      plan.steps.map((step) => step.id),
      [
        'mobilenet-v2/fetch',
        'mobilenet-v2/prepare',
        'mobilenet-v2/reference',
        'mobilenet-v2/convert/onnx/fp32',
        'mobilenet-v2/validate/onnx/fp32',
        'mobilenet-v2/benchmark/onnx/fp32',
        'mobilenet-v2/convert/tflite/int8',
        'mobilenet-v2/validate/tflite/int8',
        'mobilenet-v2/benchmark/tflite/int8',
        'mobilenet-v2/package',
      ],
    );
    const steps = byId(plan);
    // Each conversion attempt is judged against the reference (an optional dep: not in the key).
    assert.deepEqual(steps.get('mobilenet-v2/convert/tflite/int8')!.deps, [
      'mobilenet-v2/prepare',
      'mobilenet-v2/reference',
    ]);
    assert.deepEqual(steps.get('mobilenet-v2/convert/tflite/int8')!.optionalDeps, ['mobilenet-v2/reference']);
    assert.deepEqual(steps.get('mobilenet-v2/convert/tflite/int8')!.inputFiles, ['models/mobilenet-v2/calib/*.npy']);
    assert.equal(steps.get('mobilenet-v2/convert/tflite/int8')!.resource, 'heavy');
    assert.ok(steps.get('mobilenet-v2/convert/tflite/int8')!.tools.includes('onnx2tf'));
    assert.equal(steps.get('mobilenet-v2/fetch')!.resource, 'network');
    // Every validation compares with the model's one reference, which reads the fetched source.
    assert.deepEqual(steps.get('mobilenet-v2/reference')!.deps, ['mobilenet-v2/fetch']);
    assert.ok(steps.get('mobilenet-v2/reference')!.tools.includes('onnxruntime-node'));
    assert.deepEqual(steps.get('mobilenet-v2/validate/tflite/int8')!.deps, [
      'mobilenet-v2/convert/tflite/int8',
      'mobilenet-v2/reference',
    ]);
    assert.deepEqual(steps.get('mobilenet-v2/validate/tflite/int8')!.tools, ['edgezoo', 'ai-edge-litert']);
    assert.deepEqual(steps.get('mobilenet-v2/benchmark/onnx/fp32')!.deps, [
      'mobilenet-v2/convert/onnx/fp32',
      'mobilenet-v2/validate/onnx/fp32',
    ]);
    const pkg = steps.get('mobilenet-v2/package')!;
    assert.equal(pkg.runsAfterFailedDeps, true);
    assert.equal(pkg.exportTo, 'zoo/mobilenet-v2/1.0.0');
    assert.equal(pkg.deps.length, 7);
    // Every dependency comes before its dependents, and the whole plan is JSON.
    const seen = new Set<string>();
    for (const step of plan.steps) {
      for (const dep of step.deps) assert.ok(seen.has(dep), `${step.id} before ${dep}`);
      seen.add(step.id);
    }
    assert.deepEqual(JSON.parse(JSON.stringify(plan)), plan);
  });

  it('keeps skipped targets as entries with their reason, not as steps', () => {
    const plan = planBuild(
      [
        makeRecipe('m', {
          targets: targets('onnx/fp32', 'tflite/int16-act'),
          skip: { 'tflite/int16-act': 'onnx2tf crashes on LayerNorm' },
        }),
      ],
      TEST_TOOLCHAIN,
      {},
    );
    assert.deepEqual(plan.skipped, [
      { model: 'm', target: 'tflite/int16-act', reason: 'onnx2tf crashes on LayerNorm' },
    ]);
    assert.ok(!plan.steps.some((step) => step.id.includes('int16-act')));
    const pkg = stepOfKind(byId(plan).get('m/package')!, 'package');
    assert.deepEqual(pkg.params.skipped, [{ target: 'tflite/int16-act', reason: 'onnx2tf crashes on LayerNorm' }]);
  });

  it('plans one onnx2tf run per model for the float precisions; calibrated ones are searched one by one (14.1, 13)', () => {
    const recipe = makeRecipe('m', {
      targets: targets('onnx/fp32', 'tflite/fp32', 'tflite/fp16', 'tflite/int8', 'tflite/int16-act'),
      calibration: { samples: 'calib/*.npy', count: 4 },
    });
    const digests = { 'calib/*.npy': '1'.repeat(64) };
    const grouped = byId(planBuild([recipe], TEST_TOOLCHAIN, digests));
    const float = grouped.get('m/convert-run/tflite/float')!;
    assert.equal(float.kind, 'convert-run');
    assert.deepEqual(float.kind === 'convert-run' && float.params.precisions, ['fp32', 'fp16']);
    assert.deepEqual(float.deps, ['m/prepare', 'm/reference']);
    assert.equal(float.resource, 'heavy');
    // The quantization search (src/quant) runs per calibrated target: no calibrated run.
    assert.equal(grouped.get('m/convert-run/tflite/calibrated'), undefined);
    assert.deepEqual(grouped.get('m/convert/tflite/int8')!.deps, ['m/prepare', 'm/reference']);
    // Each precision keeps its convert step, which takes its artifact from the run.
    const fp16 = grouped.get('m/convert/tflite/fp16')!;
    assert.deepEqual(fp16.deps, ['m/convert-run/tflite/float']);
    assert.equal(fp16.resource, 'light');
    assert.deepEqual(grouped.get('m/validate/tflite/fp16')!.deps, ['m/convert/tflite/fp16', 'm/reference']);
    // ONNX has no multi-precision backend: a plain convert step.
    assert.deepEqual(grouped.get('m/convert/onnx/fp32')!.deps, ['m/prepare', 'm/reference']);

    const single = byId(planBuild([recipe], TEST_TOOLCHAIN, digests, undefined, { converterRuns: 'per-precision' }));
    assert.ok(![...single.values()].some((step) => step.kind === 'convert-run'));
    assert.deepEqual(single.get('m/convert/tflite/fp16')!.deps, ['m/prepare', 'm/reference']);

    // Different pins cannot share a run.
    const pinned = byId(
      planBuild([{ ...recipe, strategies: { 'tflite/fp16': ['pseudo-ops'] } }], TEST_TOOLCHAIN, digests),
    );
    assert.ok(!pinned.has('m/convert-run/tflite/float'));
  });

  it('plans no benchmark step with benchmark: false, and the package step then waits for no benchmark', () => {
    const recipe = makeRecipe('m', { targets: targets('onnx/fp32', 'tflite/fp32') });
    const timed = byId(planBuild([recipe], TEST_TOOLCHAIN, {}));
    assert.ok(timed.has('m/benchmark/onnx/fp32'));
    const untimed = byId(planBuild([recipe], TEST_TOOLCHAIN, {}, undefined, { benchmark: false }));
    assert.ok(![...untimed.values()].some((step) => step.kind === 'benchmark'));
    const pkg = stepOfKind(untimed.get('m/package')!, 'package');
    assert.deepEqual(
      pkg.params.artifacts.map((a) => a.benchmark),
      [undefined, undefined],
    );
    assert.ok(!pkg.deps.some((dep) => dep.includes('/benchmark/')));
    // A plan with benchmarks keeps the package fingerprint it had before the option existed.
    assert.equal(
      timed.get('m/package')!.fingerprint,
      byId(planBuild([recipe], TEST_TOOLCHAIN, {}, undefined, { benchmark: true })).get('m/package')!.fingerprint,
    );
  });

  it('routes litert-torch conversions from the fetched weights and the model code, not from ONNX', () => {
    const recipe = makeRecipe('tiny', {
      source: {
        kind: 'pytorch',
        factory: { file: 'models/tiny/model.py', function: 'build' },
        weights: { location: { kind: 'path', path: 'models/tiny/w.pt' }, sha256: 'b'.repeat(64) },
        kwargs: {},
      },
      targets: targets('tflite/fp32'),
      converters: { tflite: ['litert-torch'] },
    });
    const plan = planBuild([recipe], TEST_TOOLCHAIN, { 'models/tiny/model.py': 'd'.repeat(64) });
    assert.ok(!byId(plan).has('tiny/prepare'), 'no ONNX needed');
    const convert = byId(plan).get('tiny/convert/tflite/fp32')!;
    assert.deepEqual(convert.deps, ['tiny/fetch', 'tiny/reference']);
    assert.deepEqual(convert.inputFiles, ['models/tiny/model.py']);
    assert.ok(convert.tools.includes('litert-torch') && convert.tools.includes('torch'));
  });

  it('routes each TFLite precision of a PyTorch source to the converters that make it, in preference order', () => {
    const pytorch = (converters: Record<string, string[]>) =>
      makeRecipe('pt', {
        source: {
          kind: 'pytorch',
          factory: { file: 'models/pt/model.py', function: 'build' },
          weights: { location: { kind: 'path', path: 'models/pt/w.pt' }, sha256: 'b'.repeat(64) },
          kwargs: {},
        },
        targets: targets('tflite/fp32', 'tflite/fp16', 'tflite/dynamic-int8', 'tflite/int8', 'tflite/int16-act'),
        calibration: { samples: 'models/pt/calib/*.npy', count: 8 },
        converters,
      });
    const digests = { 'models/pt/model.py': 'd'.repeat(64), 'models/pt/calib/*.npy': 'c'.repeat(64) };
    const convertOf = (plan: BuildPlan, precision: string) =>
      stepOfKind(byId(plan).get(`pt/convert/tflite/${precision}`)!, 'convert');

    // A preference list: litert-torch where it builds the precision, onnx2tf after it and for the rest.
    const preferred = planBuild([pytorch({ tflite: ['litert-torch', 'onnx2tf'] })], TEST_TOOLCHAIN, digests);
    const fp32 = convertOf(preferred, 'fp32');
    assert.equal(fp32.params.converter, 'litert-torch');
    assert.deepEqual(fp32.params.routes, ['litert-torch', 'onnx2tf']);
    // A new revision of the fallback route rebuilds the target too.
    assert.deepEqual(fp32.params.routeRevisions, { onnx2tf: onnx2tfBackend.revision });
    // It reads the weights and the prepared ONNX (for its fallback), and both tools key it.
    assert.deepEqual(fp32.deps, ['pt/fetch', 'pt/prepare', 'pt/reference']);
    assert.ok(fp32.tools.includes('litert-torch') && fp32.tools.includes('onnx2tf'));
    assert.equal(convertOf(preferred, 'int8').params.converter, 'litert-torch');
    assert.deepEqual(convertOf(preferred, 'int8').params.routes, ['litert-torch', 'onnx2tf']);
    for (const precision of ['fp16', 'dynamic-int8'])
      assert.equal(convertOf(preferred, precision).params.run, 'pt/convert-run/tflite/float', precision);
    const run = stepOfKind(byId(preferred).get('pt/convert-run/tflite/float')!, 'convert-run');
    assert.equal(run.params.converter, 'onnx2tf');
    assert.deepEqual(run.params.precisions, ['fp16', 'dynamic-int8']);
    assert.equal(convertOf(preferred, 'int16-act').params.converter, 'onnx2tf');
    assert.equal(convertOf(preferred, 'int16-act').params.routes, undefined);

    // No entry: the default converter first, litert-torch after it where it makes the precision;
    // fp32 still shares the float run with fp16, its litert-torch fallback recorded for it alone.
    const byDefault = planBuild([pytorch({})], TEST_TOOLCHAIN, digests);
    const floatRun = stepOfKind(byId(byDefault).get('pt/convert-run/tflite/float')!, 'convert-run');
    assert.deepEqual(floatRun.params.precisions, ['fp32', 'fp16', 'dynamic-int8']);
    assert.deepEqual(floatRun.params.byPrecision.fp32?.routes, ['onnx2tf', 'litert-torch']);
    assert.equal(floatRun.params.byPrecision.fp16?.routes, undefined);
    assert.deepEqual(floatRun.deps, ['pt/fetch', 'pt/prepare', 'pt/reference']);

    // A precision key wins over the format's; one name pins (no fallback).
    const pinned = planBuild(
      [pytorch({ tflite: ['litert-torch', 'onnx2tf'], 'tflite/fp32': ['onnx2tf'] })],
      TEST_TOOLCHAIN,
      digests,
    );
    assert.equal(convertOf(pinned, 'fp32').params.run, 'pt/convert-run/tflite/float');
    const pinnedRun = stepOfKind(byId(pinned).get('pt/convert-run/tflite/float')!, 'convert-run');
    assert.equal(pinnedRun.params.byPrecision.fp32?.routes, undefined);
    assert.throws(() => planBuild([pytorch({ tflite: ['litert-torch'] })], TEST_TOOLCHAIN, digests), {
      message: 'recipes/pt.yaml: converters.tflite is litert-torch, which makes tflite in fp32, int8, not fp16',
    });
  });

  it("keys the prepare step by the revisions of its chain's backends, and only those that have one", () => {
    const pytorch = makeRecipe('pt', {
      source: { kind: 'pytorch', factory: { file: 'models/pt/model.py', function: 'build' }, kwargs: {} },
      targets: targets('onnx/fp32'),
    });
    const digests = { 'models/pt/model.py': 'd'.repeat(64) };
    const prepare = (plan: BuildPlan, id: string) => stepOfKind(byId(plan).get(id)!, 'prepare');
    // torch-onnx names the exported outputs as the reference does since its revision 1.
    assert.deepEqual(prepare(planBuild([pytorch], TEST_TOOLCHAIN, digests), 'pt/prepare').params.revisions, {
      'torch-onnx': torchOnnxBackend.revision,
    });
    // No backend of an ONNX source's chain has a revision: its prepare key is as it was.
    const onnx = prepare(
      planBuild([makeRecipe('m', { targets: targets('onnx/fp32') })], TEST_TOOLCHAIN, {}),
      'm/prepare',
    );
    assert.ok(!('revisions' in onnx.params));
  });

  it('refuses roads that do not exist, pointing at the recipe', () => {
    assert.throws(
      () => planBuild([makeRecipe('m', { converters: { tflite: ['litert-torch'] } })], TEST_TOOLCHAIN, {}),
      (error: unknown) => {
        assert.ok(error instanceof PlanError);
        assert.equal(error.code, 'PLAN_INVALID');
        assert.equal(
          error.message,
          'recipes/m.yaml: converters.tflite is litert-torch, which needs a pytorch source (this one is onnx)',
        );
        return true;
      },
    );
    assert.throws(() => planBuild([makeRecipe('m', { targets: targets('onnx/int8') })], TEST_TOOLCHAIN, {}), {
      message: 'recipes/m.yaml: target onnx/int8 needs calibration samples and the recipe has no calibration',
    });
  });

  it('gives equal fingerprints for equal inputs, whatever the key order', () => {
    const recipe = makeRecipe('m');
    const reordered = JSON.parse(canonicalJson(recipe)) as typeof recipe;
    assert.deepEqual(
      planBuild([recipe], TEST_TOOLCHAIN, {}).steps.map((step) => step.fingerprint),
      planBuild([reordered], TEST_TOOLCHAIN, {}).steps.map((step) => step.fingerprint),
    );
    assert.match(planBuild([recipe], TEST_TOOLCHAIN, {}).steps[0]!.fingerprint, /^[0-9a-f]{64}$/);
  });

  it('changes exactly the fingerprints a change reaches', () => {
    const base = makeRecipe('m', {
      targets: targets('onnx/fp32', 'onnx/int8'),
      calibration: { samples: 'calib/*.npy', count: 4 },
    });
    const digests = { 'calib/*.npy': '1'.repeat(64) };
    const plan = planBuild([base], TEST_TOOLCHAIN, digests);

    // A tolerance for int8 only: its conversion (whose judge validates with it), validate,
    // benchmark and the package; never fp32.
    const tighter = planBuild([{ ...base, tolerances: { int8: { atol: 0.1 } } }], TEST_TOOLCHAIN, digests);
    assert.deepEqual(changedIds(plan, tighter), [
      'm/benchmark/onnx/int8',
      'm/convert/onnx/int8',
      'm/package',
      'm/validate/onnx/int8',
    ]);

    // New calibration bytes: the int8 conversion and everything after it, not fp32.
    const recalibrated = planBuild([base], TEST_TOOLCHAIN, { 'calib/*.npy': '2'.repeat(64) });
    assert.deepEqual(changedIds(plan, recalibrated), [
      'm/benchmark/onnx/int8',
      'm/convert/onnx/int8',
      'm/package',
      'm/validate/onnx/int8',
    ]);

    // A new onnxruntime (python) version: the onnxruntime conversions and downstream only.
    const newOrt = planBuild(
      [base],
      { ...TEST_TOOLCHAIN, versions: { ...TEST_TOOLCHAIN.versions, onnxruntime: '1.24.0' } },
      digests,
    );
    assert.deepEqual(changedIds(plan, newOrt), [
      'm/benchmark/onnx/int8',
      'm/convert/onnx/int8',
      'm/package',
      'm/validate/onnx/int8',
    ]);

    // A new onnxruntime-node (the ONNX reference's and artifacts' runtime): the reference, every
    // validation and the ONNX benchmarks, never a conversion.
    const newOrtNode = planBuild(
      [base],
      { ...TEST_TOOLCHAIN, versions: { ...TEST_TOOLCHAIN.versions, 'onnxruntime-node': '1.31.0' } },
      digests,
    );
    assert.deepEqual(changedIds(plan, newOrtNode), [
      'm/benchmark/onnx/fp32',
      'm/benchmark/onnx/int8',
      'm/package',
      'm/reference',
      'm/validate/onnx/fp32',
      'm/validate/onnx/int8',
    ]);

    // The source bytes: everything.
    const newSource = planBuild(
      [
        {
          ...base,
          source: { kind: 'onnx', file: { location: { kind: 'path', path: 'x.onnx' }, sha256: 'f'.repeat(64) } },
        },
      ],
      TEST_TOOLCHAIN,
      digests,
    );
    assert.equal(changedIds(plan, newSource).length, plan.steps.length);

    // Another platform: everything except nothing.
    const otherPlatform = planBuild([base], { ...TEST_TOOLCHAIN, platform: 'darwin-arm64-node20' }, digests);
    assert.equal(changedIds(plan, otherPlatform).length, plan.steps.length);

    // A description edit changes only the package (the card).
    const redescribed = planBuild([{ ...base, description: 'new words' }], TEST_TOOLCHAIN, digests);
    assert.deepEqual(changedIds(plan, redescribed), ['m/package']);
  });

  it('shares the fetch entry between recipes with the same source file', () => {
    const source = makeRecipe('a').source;
    const plan = planBuild([makeRecipe('a', { source }), makeRecipe('b', { source })], TEST_TOOLCHAIN, {});
    assert.equal(fp(plan, 'a/fetch'), fp(plan, 'b/fetch'));
    assert.notEqual(fp(plan, 'a/prepare'), fp(plan, 'b/prepare'));
  });

  it('lists tools without a pinned version', () => {
    const plan = planBuild([makeRecipe('m')], { versions: { edgezoo: '0.1.0' }, platform: 'linux-x64-node20' }, {});
    assert.deepEqual(plan.missingToolVersions, [
      'ai-edge-litert',
      'onnx2tf',
      'onnxruntime',
      'onnxruntime-node',
      'onnxslim',
    ]);
  });

  // How fast: scripts/bench-build.ts (goal < 200 ms for 200 recipes). A timed test measures the
  // machine's load as much as the planner, so this one checks what the plan holds.
  it('plans 200 recipes: every step once, with unique ids', () => {
    const recipes = Array.from({ length: 200 }, (_, index) =>
      makeRecipe(`model-${index}`, {
        targets: targets('onnx/fp32', 'onnx/fp16', 'onnx/int8', 'tflite/fp32', 'tflite/int8', 'openvino/fp32'),
        calibration: { samples: `models/model-${index}/calib/*.npy`, count: 8 },
      }),
    );
    const digests = Object.fromEntries(recipes.map((recipe) => [recipe.calibration!.samples, 'e'.repeat(64)]));
    const plan = planBuild(recipes, TEST_TOOLCHAIN, digests);
    // fetch, prepare, reference, 3 per target, package.
    assert.equal(plan.steps.length, 200 * (3 + 6 * 3 + 1));
    const ids = new Set(plan.steps.map((step: PlannedStep) => step.id));
    assert.equal(ids.size, plan.steps.length);
  });
});
