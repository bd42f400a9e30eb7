import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  ExclusiveSlot,
  executePlan,
  MemoryGate,
  StepRunnerRegistry,
  type BuildEvent,
  type StepRunner,
} from '../../src/build/index.js';
import { LocalCache } from '../../src/cache/index.js';
import { planBuild, STEP_KINDS } from '../../src/plan/index.js';
import type { Recipe } from '../../src/recipe/types.js';
import { abortableSleep, makeRecipe, maxConcurrency, targets, TEST_TOOLCHAIN } from './build-fixtures.js';
import { writeFile } from 'node:fs/promises';

const temporaryDirs: string[] = [];
after(async () => {
  for (const dir of temporaryDirs) await rm(dir, { recursive: true, force: true });
});

interface Harness {
  root: string;
  cache: LocalCache;
  events: BuildEvent[];
  trace: Array<{ id: string; event: 'start' | 'end'; t: number }>;
  build: (
    recipes: Recipe[],
    options?: { jobs?: number; force?: boolean; signal?: AbortSignal; runner?: StepRunner; memoryBudgetMiB?: number },
  ) => ReturnType<typeof executePlan>;
}

/** A throw-away project and a runner that writes one file per step and records start/end. */
async function harness(behaviour: { sleepMs?: number; fail?: RegExp; invalid?: RegExp } = {}): Promise<Harness> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-exec-'));
  temporaryDirs.push(root);
  const cache = new LocalCache(path.join(root, 'artifacts', 'cache'));
  const events: BuildEvent[] = [];
  const trace: Harness['trace'] = [];
  const runner: StepRunner = async (step, ctx) => {
    trace.push({ id: step.id, event: 'start', t: performance.now() });
    try {
      for (const dep of step.deps)
        if (!ctx.failedDeps[dep]) assert.ok(ctx.inputs[dep], `${step.id} got the outputs of ${dep}`);
      if (behaviour.sleepMs) await abortableSleep(behaviour.sleepMs, ctx.signal);
      if (behaviour.fail?.test(step.id)) throw new Error(`boom in ${step.id}`);
      await writeFile(path.join(ctx.outDir, 'out.txt'), step.id);
      ctx.log(`wrote ${step.id}`);
      if (behaviour.invalid?.test(step.id)) return { status: 'failed', reason: 'max abs error 0.5 > atol 0.01' };
      return { status: 'ok', figures: { failedDeps: Object.keys(ctx.failedDeps).length } };
    } finally {
      trace.push({ id: step.id, event: 'end', t: performance.now() });
    }
  };
  return {
    root,
    cache,
    events,
    trace,
    build: (recipes, options = {}) => {
      const registry = new StepRunnerRegistry();
      for (const kind of STEP_KINDS) registry.register(kind, options.runner ?? runner);
      return executePlan({
        plan: planBuild(recipes, TEST_TOOLCHAIN, {}),
        recipes,
        projectRoot: root,
        cache,
        runners: registry,
        jobs: options.jobs ?? 2,
        force: options.force ?? false,
        ...(options.memoryBudgetMiB === undefined ? {} : { memoryBudgetMiB: options.memoryBudgetMiB }),
        ...(options.signal ? { signal: options.signal } : {}),
        onEvent: (event) => events.push(event),
      });
    },
  };
}

const models = (count: number, overrides: Partial<Recipe> = {}) =>
  Array.from({ length: count }, (_, index) => makeRecipe(`m${index}`, overrides));

describe('executePlan', () => {
  it('runs every step after its dependencies, with at most --jobs converter steps at once', async () => {
    const h = await harness({ sleepMs: 15 });
    const recipes = models(3);
    const summary = await h.build(recipes, { jobs: 2 });
    assert.equal(summary.ok, true);
    const plan = planBuild(recipes, TEST_TOOLCHAIN, {});
    const started = new Map(h.trace.filter((line) => line.event === 'start').map((line) => [line.id, line.t]));
    const ended = new Map(h.trace.filter((line) => line.event === 'end').map((line) => [line.id, line.t]));
    for (const step of plan.steps) {
      for (const dep of step.deps)
        assert.ok(ended.get(dep)! <= started.get(step.id)!, `${dep} ended before ${step.id} started`);
    }
    const cpuBound = h.trace.filter((line) => /\/(prepare|convert|reference|validate|benchmark)/.test(line.id));
    assert.equal(maxConcurrency(cpuBound), 2);
    assert.deepEqual(
      summary.models.map((model) => [model.model, model.run, model.cached, model.failed]),
      [
        ['m0', 13, 0, 0],
        ['m1', 13, 0, 0],
        ['m2', 13, 0, 0],
      ],
    );
    // One log file per step.
    assert.equal((await readdir(path.join(h.root, 'artifacts', 'logs', 'm0'))).length, 13);
    assert.equal(
      await readFile(path.join(h.root, 'artifacts', 'logs', 'm0', 'convert-tflite-fp32.log'), 'utf8'),
      'wrote m0/convert/tflite/fp32\n',
    );
    // The package step's outputs are exported to the zoo.
    assert.equal(await readFile(path.join(h.root, 'artifacts', 'zoo', 'm1', '1.0.0', 'out.txt'), 'utf8'), 'm1/package');
  });

  it('serves a second build from the cache, and --force runs everything again', async () => {
    const h = await harness();
    await h.build(models(2));
    h.trace.length = 0;
    h.events.length = 0;
    const cached = await h.build(models(2));
    assert.equal(h.trace.length, 0, 'no runner ran');
    assert.deepEqual(
      cached.models.map((model) => model.cached),
      [13, 13],
    );
    assert.equal(h.events.filter((event) => event.type === 'step-cached').length, 26);
    const forced = await h.build(models(2), { force: true });
    assert.deepEqual(
      forced.models.map((model) => model.run),
      [13, 13],
    );
    assert.equal((await h.cache.verifyAll()).corrupt.length, 0);
  });

  it("isolates a failure: the model's dependents are blocked, other models build", async () => {
    const h = await harness({ fail: /^m1\/convert\/onnx\/fp16$/ });
    const summary = await h.build(models(3));
    assert.equal(summary.ok, false);
    const m1 = summary.models.find((model) => model.model === 'm1')!;
    assert.deepEqual([m1.run, m1.failed], [10, 3]);
    assert.deepEqual(
      [...m1.failures].sort((a, b) => a.step.localeCompare(b.step)),
      [
        { step: 'm1/benchmark/onnx/fp16', reason: 'blocked by m1/convert/onnx/fp16' },
        { step: 'm1/convert/onnx/fp16', reason: 'internal error in the convert runner: boom in m1/convert/onnx/fp16' },
        { step: 'm1/validate/onnx/fp16', reason: 'blocked by m1/convert/onnx/fp16' },
      ],
    );
    for (const other of ['m0', 'm2']) assert.equal(summary.models.find((model) => model.model === other)!.failed, 0);
    // The package still ran, knowing what failed, and was not cached (a dependency errored).
    const pkg = h.events.find((event) => event.type === 'step-done' && event.step === 'm1/package');
    assert.ok(pkg && pkg.type === 'step-done');
    assert.deepEqual(pkg.result, { status: 'ok', figures: { failedDeps: 3 } });
    const plan = planBuild(models(3), TEST_TOOLCHAIN, {});
    assert.equal(await h.cache.get(plan.steps.find((step) => step.id === 'm1/package')!.fingerprint), undefined);
    // The failure event names its log file.
    const failed = h.events.find((event) => event.type === 'step-failed' && event.step === 'm1/convert/onnx/fp16');
    assert.ok(failed && failed.type === 'step-failed');
    assert.equal(failed.logFile, path.join(h.root, 'artifacts', 'logs', 'm1', 'convert-onnx-fp16.log'));
  });

  it('caches a deterministic validation failure and still fails the build with it', async () => {
    const h = await harness({ invalid: /^m0\/validate\/tflite\/fp32$/ });
    const first = await h.build(models(1));
    assert.equal(first.ok, false);
    assert.deepEqual(
      first.models[0]!.failures.map((failure) => failure.reason),
      ['max abs error 0.5 > atol 0.01', 'blocked by m0/validate/tflite/fp32'],
    );
    h.trace.length = 0;
    h.events.length = 0;
    const second = await h.build(models(1));
    assert.equal(h.trace.length, 0, 'everything, the failed validation too, came from the cache');
    assert.equal(second.ok, false);
    const cachedFailure = h.events.find(
      (event) => event.type === 'step-failed' && event.step === 'm0/validate/tflite/fp32',
    );
    assert.ok(
      cachedFailure && cachedFailure.type === 'step-failed' && cachedFailure.cached && cachedFailure.deterministic,
    );
  });

  it('a failed package step exports nothing and keeps the last good export', async () => {
    const h = await harness();
    const recipe = makeRecipe('m0', { targets: targets('onnx/fp32') });
    const zooFile = path.join(h.root, 'artifacts', 'zoo', 'm0', '1.0.0', 'out.txt');
    assert.equal((await h.build([recipe])).ok, true);
    assert.equal(await readFile(zooFile, 'utf8'), 'm0/package');
    // The next build's package step fails (nothing passed): the version folder stays as it was, fresh and cached.
    const failing: StepRunner = async (step, ctx) => {
      await writeFile(path.join(ctx.outDir, 'out.txt'), `failed ${step.id}`);
      return step.kind === 'package' ? { status: 'failed', reason: 'no version written' } : { status: 'ok' };
    };
    for (let run = 0; run < 2; run++) {
      const summary = await h.build([recipe], { runner: failing, force: run === 0 });
      assert.equal(summary.ok, false);
      assert.equal(await readFile(zooFile, 'utf8'), 'm0/package', `run ${run}`);
    }
  });

  it('fails a step whose kind has no runner, naming it', async () => {
    const h = await harness();
    const recipes = models(1);
    const registry = new StepRunnerRegistry();
    const summary = await executePlan({
      plan: planBuild(recipes, TEST_TOOLCHAIN, {}),
      recipes,
      projectRoot: h.root,
      cache: h.cache,
      runners: registry,
    });
    assert.equal(summary.ok, false);
    assert.equal(
      summary.models[0]!.failures[0]!.reason,
      'no step runner is registered for "fetch" steps (nothing can build m0/fetch)',
    );
  });

  it('on abort stops running steps, stores nothing partial, and a rebuild reuses what finished', async () => {
    const h = await harness({ sleepMs: 40 });
    const controller = new AbortController();
    const building = h.build(models(2), { signal: controller.signal, jobs: 2 });
    setTimeout(() => controller.abort(), 150);
    const interrupted = await building;
    assert.equal(interrupted.interrupted, true);
    assert.equal(interrupted.ok, false);
    const finished = (await h.cache.list()).length;
    assert.ok(finished > 0 && finished < 26, `some steps finished (${finished})`);
    assert.deepEqual(
      (await readdir(h.cache.root)).filter((name) => name.startsWith('.')),
      [],
      'no temporary folder left',
    );
    assert.equal((await h.cache.verifyAll()).corrupt.length, 0);
    h.trace.length = 0;
    const rebuilt = await h.build(models(2));
    assert.equal(rebuilt.ok, true);
    assert.equal(
      rebuilt.models.reduce((sum, model) => sum + model.cached, 0),
      finished,
    );
    assert.equal(h.trace.filter((line) => line.event === 'start').length, 26 - finished);
  });

  it('admits heavy steps only while their memory estimates fit the budget', async () => {
    const gate = new MemoryGate(5000);
    let running = 0;
    let peak = 0;
    const task = async () => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 10));
      running -= 1;
    };
    await Promise.all([gate.run(3000, task), gate.run(3000, task), gate.run(2000, task), gate.run(9000, task)]);
    assert.equal(peak, 2, '3000+2000 fit together, 3000+3000 do not, 9000 runs alone');
    // In a build: tflite conversions (onnx2tf, 4096 MiB each) one at a time under a 5000 MiB budget.
    const h = await harness({ sleepMs: 10 });
    await h.build(models(3, { targets: targets('tflite/fp32') }), { jobs: 2, memoryBudgetMiB: 5000 });
    assert.equal(maxConcurrency(h.trace.filter((line) => line.id.includes('/convert/tflite'))), 1);
  });

  it('runs benchmarks alone: never beside a converter, validation or reference step, one at a time', async () => {
    const h = await harness({ sleepMs: 12 });
    const recipes = models(4, { targets: targets('onnx/fp32', 'onnx/fp16', 'tflite/fp32') });
    const summary = await h.build(recipes, { jobs: 3 });
    assert.equal(summary.ok, true);
    const cpuBound = /\/(prepare|convert|reference|validate)/;
    const running = new Set<string>();
    let benchmarks = 0;
    for (const line of [...h.trace].sort((a, b) => a.t - b.t || (a.event === 'end' ? -1 : 1))) {
      if (line.event === 'end') {
        running.delete(line.id);
        continue;
      }
      const beside = [...running];
      if (line.id.includes('/benchmark/')) {
        benchmarks += 1;
        assert.deepEqual(
          beside.filter((id) => cpuBound.test(id) || id.includes('/benchmark/')),
          [],
          `${line.id} started beside ${beside.join(', ')}`,
        );
      } else if (cpuBound.test(line.id)) {
        assert.deepEqual(
          beside.filter((id) => id.includes('/benchmark/')),
          [],
          `${line.id} started during a benchmark`,
        );
      }
      running.add(line.id);
    }
    assert.equal(benchmarks, 12);
    // The converters were not held back to one at a time by the benchmarks.
    assert.equal(maxConcurrency(h.trace.filter((line) => cpuBound.test(line.id))), 3);
  });

  it('the exclusive slot lets shared work go first and holds new shared work while an exclusive task runs', async () => {
    const slot = new ExclusiveSlot();
    const log: string[] = [];
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const shared = (name: string, ms: number) =>
      slot.shared(async () => {
        log.push(`start ${name}`);
        await sleep(ms);
        log.push(`end ${name}`);
      });
    const exclusive = (name: string, ms: number) =>
      slot.exclusive(async () => {
        log.push(`start ${name}`);
        assert.deepEqual(slot.state, { shared: 0, exclusive: true });
        await sleep(ms);
        log.push(`end ${name}`);
      });
    const first = shared('convert-a', 20);
    const bench1 = exclusive('bench-1', 20); // waits for convert-a
    const second = shared('convert-b', 10); // shared work goes before the waiting benchmark
    await Promise.all([first, second]);
    await sleep(5); // bench-1 runs now
    const late = shared('convert-c', 5); // arrives during bench-1: waits for it
    const bench2 = exclusive('bench-2', 5); // after convert-c
    await Promise.all([bench1, late, bench2]);
    assert.deepEqual(log, [
      'start convert-a',
      'start convert-b',
      'end convert-b',
      'end convert-a',
      'start bench-1',
      'end bench-1',
      'start convert-c',
      'end convert-c',
      'start bench-2',
      'end bench-2',
    ]);
    assert.deepEqual(slot.state, { shared: 0, exclusive: false });
  });
});
