/**
 * Benchmarks of the build engine, medians of several runs:
 * - planning 200 recipes (goal < 200 ms);
 * - a rebuild of 200 recipes with every step cached, in process (goal < 1 s);
 * - what cache checking costs: 'stat' vs 'full' on entries of a given size (figures only).
 * Run: node --import tsx scripts/bench-build.ts [--recipes 200] [--runs 5] [--mib 4]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { executePlan, StepRunnerRegistry, type StepRunner } from '../src/build/index.js';
import { LocalCache } from '../src/cache/index.js';
import { BUILTIN_CATALOGUE } from '../src/catalogue/index.js';
import { currentPlatform, EDGEZOO_TOOL, planBuild, type Fingerprint } from '../src/plan/index.js';
import { parseRecipeText, type Recipe } from '../src/recipe/index.js';
import { benchOptions, cpuMsSince, goal, machineLine, median, numberOption, summariseGoals } from './lib/bench.js';

const options = benchOptions('node --import tsx scripts/bench-build.ts [--recipes 200] [--runs 5] [--mib 4]', {
  recipes: { type: 'string', default: '200' },
  runs: { type: 'string', default: '5' },
  mib: { type: 'string', default: '4' },
});
const recipeCount = numberOption('recipes', options.recipes);
const runs = numberOption('runs', options.runs);
const entryMiB = numberOption('mib', options.mib);

/** A recipe as a person writes it, loaded by the real recipe loader. */
function benchRecipe(index: number): Recipe {
  const name = `model-${String(index).padStart(3, '0')}`;
  const text = [
    `name: ${name}`,
    'version: 1.0.0',
    'license: Apache-2.0',
    'description: A benchmark model.',
    'task: image-classification',
    `source: { onnx: { path: models/${name}/model.onnx, sha256: ${'a'.repeat(64)} } }`,
    'inputs:',
    '  - { name: input, shape: [1, 3, 8, 8], layout: NCHW, range: [0, 1] }',
    'targets: { onnx: [fp32, fp16], tflite: [fp32], openvino: [fp32] }',
    '',
  ].join('\n');
  const parsed = parseRecipeText(text, `recipes/${name}.yaml`);
  if (!parsed.recipe) throw new Error(`the benchmark recipe does not load: ${JSON.stringify(parsed.problems)}`);
  return parsed.recipe;
}

const recipes = Array.from({ length: recipeCount }, (_, index) => benchRecipe(index));
const toolchain = {
  versions: Object.fromEntries(
    [EDGEZOO_TOOL, ...BUILTIN_CATALOGUE.cacheKeyToolEnvs().keys()].map((tool) => [tool, '1.0.0']),
  ),
  platform: currentPlatform(),
};

// Planning.
planBuild(recipes, toolchain, {}); // warm-up (JIT)
const planWall: number[] = [];
const planCpu: number[] = [];
for (let run = 0; run < runs; run++) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  planBuild(recipes, toolchain, {});
  planWall.push(performance.now() - started);
  planCpu.push(cpuMsSince(cpu));
}
const plan = planBuild(recipes, toolchain, {});
console.log(
  `plan ${recipeCount} recipes (${plan.steps.length} steps): median ${median(planWall).toFixed(1)} ms wall, ${median(planCpu).toFixed(1)} ms CPU`,
);
goal(`planning ${recipeCount} recipes, median wall`, median(planWall), '<', 200, 'ms');

// A fully cached rebuild.
const root = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-bench-'));
try {
  const writeOne: StepRunner = async (step, ctx) => {
    await writeFile(path.join(ctx.outDir, 'output.bin'), step.id);
  };
  const registry = new StepRunnerRegistry();
  for (const kind of ['fetch', 'prepare', 'convert', 'validate', 'benchmark', 'package'] as const)
    registry.register(kind, writeOne);
  const cache = new LocalCache(path.join(root, 'artifacts', 'cache'));
  const build = () => executePlan({ plan, recipes, projectRoot: root, cache, runners: registry });
  const first = performance.now();
  await build();
  console.log(`first build of ${plan.steps.length} stand-in steps: ${(performance.now() - first).toFixed(0)} ms`);
  const rebuildWall: number[] = [];
  const rebuildCpu: number[] = [];
  for (let run = 0; run < runs; run++) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const summary = await build();
    rebuildWall.push(performance.now() - started);
    rebuildCpu.push(cpuMsSince(cpu));
    const cached = summary.models.reduce((sum, model) => sum + model.cached, 0);
    if (cached !== plan.steps.length) throw new Error(`expected all ${plan.steps.length} steps cached, got ${cached}`);
  }
  console.log(
    `rebuild of ${recipeCount} recipes, all ${plan.steps.length} steps cached: median ${median(rebuildWall).toFixed(0)} ms wall, ${median(rebuildCpu).toFixed(0)} ms CPU`,
  );
  goal(`cached rebuild of ${recipeCount} recipes, median wall`, median(rebuildWall), '<', 1000, 'ms');

  // Cost of checking a cached entry: stat vs full hash.
  const big = new LocalCache(path.join(root, 'big-cache'));
  const pending = await big.begin();
  await writeFile(path.join(pending.outDir, 'model.bin'), Buffer.alloc(entryMiB * 1024 * 1024, 7));
  const fingerprint = 'f'.repeat(64) as Fingerprint;
  await big.put(fingerprint, pending, { stepId: 'bench', result: { status: 'ok' } });
  const full = new LocalCache(path.join(root, 'big-cache'), { verify: 'full' });
  for (const [mode, store] of [
    ['stat', big],
    ['full', full],
  ] as const) {
    const times: number[] = [];
    for (let run = 0; run < runs; run++) {
      const started = performance.now();
      await store.get(fingerprint);
      times.push(performance.now() - started);
    }
    console.log(`get of a ${entryMiB} MiB entry, verify=${mode}: median ${median(times).toFixed(2)} ms`);
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
console.log(machineLine());
summariseGoals();
