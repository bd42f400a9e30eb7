/**
 * The shared worker pool as the step runners use it: stderr goes to the log of the request
 * being served, an aborted step kills the worker and what it started (the next request gets a
 * fresh one), requests of one env are served one at a time per worker, sessions keep their
 * models across a worker's restart, and workers die with their build. The ops are real: model
 * code (test/fixtures/worker/model_code.py) run by `validate.load` in the torch env.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { StepCancelledError } from '../../src/errors.js';
import { toolRoot } from '../../src/paths.js';
import {
  configureSharedWorkerPool,
  openWorkerSession,
  runInWorker,
  sharedWorkerPool,
  stopSharedWorkerPool,
} from '../../src/toolchain/pool.js';
import { WorkerCrashedError } from '../../src/toolchain/worker.js';
import { writeNpy } from '../../src/validate/index.js';
import { modelCode, msUntilGone, spawnedPids } from './worker-fixtures.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-pool-test-'));
after(async () => {
  await stopSharedWorkerPool();
  rmSync(tmp, { recursive: true, force: true });
});

const firstTorchWorker = () => sharedWorkerPool().workers('torch')[0]!;

test('logs are routed per request, abort kills the worker and the next request starts a new one', async () => {
  // One worker: the queued request must wait for the aborted one and get its restarted worker.
  await configureSharedWorkerPool({ workersPerEnv: 1 });
  const logA: string[] = [];
  const logB: string[] = [];
  const first = await runInWorker('torch', 'ping', {}, { log: (l) => logA.push(l) });
  await runInWorker('torch', 'validate.load', modelCode('noisy', { text: 'for-b' }), { log: (l) => logB.push(l) });
  for (const how of ['for-b', 'for-b (fd 1)', 'for-b (child)']) assert.ok(logB.includes(how), how);
  assert.ok(!logA.some((l) => l.includes('for-b')));

  const controller = new AbortController();
  const sleeping = runInWorker('torch', 'validate.load', modelCode('slow', { seconds: 60 }), {
    signal: controller.signal,
  });
  // Queued behind the sleeper: must run after the abort, in a fresh worker.
  const queued = runInWorker('torch', 'ping', {});
  setTimeout(() => controller.abort(), 300);
  const started = Date.now();
  await assert.rejects(sleeping, {
    name: 'StepCancelledError',
    code: 'CANCELLED',
    message: 'validate.load in the torch worker was cancelled',
  });
  assert.ok(Date.now() - started < 10_000, 'the abort ended the request at once');
  const next = await queued;
  assert.notEqual(next.pid, first.pid);
  assert.equal(firstTorchWorker().stats.starts, 2);

  // Already aborted: refused before it reaches the worker.
  await assert.rejects(runInWorker('torch', 'ping', {}, { signal: AbortSignal.abort() }), StepCancelledError);
});

test('an aborted op takes the processes it started with it (the worker leads its own process group)', async () => {
  await configureSharedWorkerPool({ workersPerEnv: 1 });
  const pidfile = path.join(tmp, 'abort.pids');
  const controller = new AbortController();
  const running = runInWorker('torch', 'validate.load', modelCode('spawning', { pidfile }), {
    signal: controller.signal,
  });
  const [worker, child] = await spawnedPids(pidfile);
  controller.abort();
  await assert.rejects(running, StepCancelledError);
  const ms = await msUntilGone([worker, child], 2000);
  console.log(`# abort: worker and the process it started gone in ${ms} ms`);
});

test('stopping the pool ends a running op and the processes it started', async () => {
  await configureSharedWorkerPool({ workersPerEnv: 1 });
  const pidfile = path.join(tmp, 'stop.pids');
  const running = runInWorker('torch', 'validate.load', modelCode('spawning', { pidfile }));
  const [worker, child] = await spawnedPids(pidfile);
  const started = Date.now();
  await stopSharedWorkerPool();
  assert.ok(Date.now() - started < 2000, `the pool took ${Date.now() - started} ms to stop`);
  await assert.rejects(running, WorkerCrashedError);
  await msUntilGone([worker, child], 2000);
});

for (const how of ['SIGKILL', 'SIGTERM', 'exit'] as const) {
  test(`a worker whose build process ends (${how}) ends at once, with the processes it started`, async () => {
    const pidfile = path.join(tmp, `holder-${how}.pids`);
    const holder = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(toolRoot, 'test', 'integration', 'worker-holder.ts'),
        pidfile,
        how === 'exit' ? 'exit' : 'wait',
      ],
      { cwd: toolRoot, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    holder.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const ended = new Promise<void>((resolve) => holder.once('exit', () => resolve()));
    try {
      const [worker, child] = await spawnedPids(pidfile);
      if (how !== 'exit') holder.kill(how);
      await ended;
      // A worker running an op for minutes used to outlive its killed build for all of them.
      const ms = await msUntilGone([worker, child], 2000);
      console.log(`# build process ${how}: its worker and the process the op started gone ${ms} ms after it ended`);
    } catch (error) {
      holder.kill('SIGKILL');
      throw new Error(`${(error as Error).message}\n${stderr}`);
    }
  });
}

test('two requests of one env run side by side in two warm workers, which stay warm', async () => {
  await configureSharedWorkerPool({ workersPerEnv: 2 });
  // Both workers import torch first (the model code does), so the timing below is the work alone.
  const warm = modelCode('slow', { seconds: 0 });
  await Promise.all([runInWorker('torch', 'validate.load', warm), runInWorker('torch', 'validate.load', warm)]);
  const started = Date.now();
  const slow = modelCode('slow', { seconds: 1.5 });
  await Promise.all([runInWorker('torch', 'validate.load', slow), runInWorker('torch', 'validate.load', slow)]);
  const took = Date.now() - started;
  assert.ok(took < 2800, `two 1.5 s requests took ${took} ms: not in parallel`);
  const pids = await Promise.all([runInWorker('torch', 'ping', {}), runInWorker('torch', 'ping', {})]);
  assert.equal(new Set(pids.map((p) => p.pid)).size, 2);
  assert.deepEqual(
    sharedWorkerPool()
      .workers('torch')
      .map((w) => w.stats.starts),
    [1, 1],
  );
});

test('a pool with requestsPerWorker 1 runs each request in a fresh process', async () => {
  await configureSharedWorkerPool({ workersPerEnv: 1, requestsPerWorker: 1 });
  const a = await runInWorker('torch', 'ping', {});
  const b = await runInWorker('torch', 'ping', {});
  assert.notEqual(a.pid, b.pid);
  assert.equal(firstTorchWorker().stats.starts, 2);
});

test('a worker session keeps one process until closed, reloads its model after a restart, and gives it back', async () => {
  await configureSharedWorkerPool({ workersPerEnv: 2 });
  const log: string[] = [];
  const session = openWorkerSession('torch', { log: (line) => log.push(line) });
  const first = await session.call('ping', {});
  assert.equal(session.generation, 1);
  // While the session holds its worker, other requests get the other one.
  const other = await runInWorker('torch', 'ping', {});
  assert.notEqual(other.pid, first.pid);
  assert.equal((await session.call('ping', {})).pid, first.pid);

  const input = path.join(tmp, 'x.npy');
  await writeNpy(input, { dtype: 'float32', dims: [3], data: Float32Array.from([1, 2, 3]) });
  const { handle } = await session.call('validate.load', modelCode('scale', { factor: 3 }));
  const run = () => session.call('validate.run', { handle, inputs: { x: input }, outputDir: path.join(tmp, 'out') });
  assert.deepEqual((await run()).outputs[0]!.dims, [3]);
  // The pinned process dies (as after a converter's SIGFPE): the session starts another, loads
  // the model there again and runs it, under the handle the caller knows.
  process.kill(first.pid, 'SIGKILL');
  const after = await run();
  assert.deepEqual(after.outputs[0]!.dims, [3]);
  assert.equal(session.generation, 2);
  assert.equal(session.reloads, 1);
  assert.ok(log.some((line) => line.startsWith('[edgezoo] loading the model again: ')));
  // Releasing its last model gives the worker back: two parallel requests get both workers.
  await session.call('validate.release', { handle });
  const pids = await Promise.all([runInWorker('torch', 'ping', {}), runInWorker('torch', 'ping', {})]);
  assert.equal(new Set(pids.map((p) => p.pid)).size, 2);
});
