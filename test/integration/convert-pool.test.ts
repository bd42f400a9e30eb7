/**
 * The shared worker pool as the convert runners use it: stderr goes to the log of the request
 * being served, an aborted step kills the worker (the next request gets a fresh one), and
 * requests of one env are served one at a time.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { StepCancelledError } from '../../src/errors.js';
import {
  openWorkerSession,
  runInWorker,
  setWorkersPerEnv,
  sharedWorkerPool,
  stopSharedWorkerPool,
} from '../../src/toolchain/pool.js';
import { WorkerCrashedError } from '../../src/toolchain/worker.js';

after(() => stopSharedWorkerPool());

test('logs are routed per request, abort kills the worker and the next request starts a new one', async () => {
  // One worker: the queued request must wait for the aborted one and get its restarted worker.
  await stopSharedWorkerPool();
  setWorkersPerEnv(1);
  const logA: string[] = [];
  const logB: string[] = [];
  const first = await runInWorker<{ pid: number }>('torch', 'ping', {}, { log: (l) => logA.push(l) });
  await runInWorker('torch', 'debug.noise', { text: 'for-b' }, { log: (l) => logB.push(l) });
  assert.ok(logB.some((l) => l.includes('for-b')));
  assert.ok(!logA.some((l) => l.includes('for-b')));

  const controller = new AbortController();
  const sleeping = runInWorker('torch', 'debug.sleep', { seconds: 60 }, { signal: controller.signal });
  // Queued behind the sleeper: must run after the abort, in a fresh worker.
  const queued = runInWorker<{ pid: number }>('torch', 'ping', {});
  setTimeout(() => controller.abort(), 300);
  const started = Date.now();
  await assert.rejects(
    sleeping,
    (e: unknown) => e instanceof StepCancelledError && e.message === 'debug.sleep in the torch worker was cancelled',
  );
  assert.ok(Date.now() - started < 10_000, 'the abort ended the request at once');
  const after = await queued;
  assert.notEqual(after.pid, first.pid);
  assert.equal(sharedWorkerPool().get('torch').stats.starts, 2);

  // Already aborted: refused before it reaches the worker.
  await assert.rejects(runInWorker('torch', 'ping', {}, { signal: AbortSignal.abort() }), StepCancelledError);
});

test('two requests of one env run side by side in two warm workers, which stay warm', async () => {
  await stopSharedWorkerPool();
  setWorkersPerEnv(2);
  await Promise.all([runInWorker('torch', 'ping', {}), runInWorker('torch', 'ping', {})]);
  const started = Date.now();
  const [a, b] = await Promise.all([
    runInWorker<{ slept: number }>('torch', 'debug.sleep', { seconds: 1.5 }),
    runInWorker<{ slept: number }>('torch', 'debug.sleep', { seconds: 1.5 }),
  ]);
  const took = Date.now() - started;
  assert.deepEqual([a.slept, b.slept], [1.5, 1.5]);
  assert.ok(took < 2800, `two 1.5 s requests took ${took} ms: not in parallel`);
  const pids = new Set(
    await Promise.all([
      runInWorker<{ pid: number }>('torch', 'ping', {}),
      runInWorker<{ pid: number }>('torch', 'ping', {}),
    ]).then((r) => r.map((x) => x.pid)),
  );
  assert.equal(pids.size, 2);
  assert.equal(sharedWorkerPool().get('torch').stats.starts, 1);
});

test('a worker session keeps one process until closed, sees its restart, and gives it back', async () => {
  await stopSharedWorkerPool();
  setWorkersPerEnv(2);
  const session = openWorkerSession('torch');
  const first = await session.call<{ pid: number }>('ping', {});
  assert.equal(session.generation, 1);
  // While the session holds its worker, other requests get the other one.
  const other = await runInWorker<{ pid: number }>('torch', 'ping', {});
  assert.notEqual(other.pid, first.pid);
  assert.equal((await session.call<{ pid: number }>('ping', {})).pid, first.pid);
  // The pinned process dies (as after a converter's SIGFPE): the session restarts it, and says so.
  await assert.rejects(session.call('debug.exit', { code: 3 }), WorkerCrashedError);
  const restarted = await session.call<{ pid: number }>('ping', {});
  assert.notEqual(restarted.pid, first.pid);
  assert.equal(session.generation, 2);
  session.close();
  // Given back: with both workers idle, two parallel requests are served at once by the two.
  const pids = await Promise.all([
    runInWorker<{ pid: number }>('torch', 'ping', {}),
    runInWorker<{ pid: number }>('torch', 'ping', {}),
  ]);
  assert.equal(new Set(pids.map((p) => p.pid)).size, 2);
  assert.ok(pids.some((p) => p.pid === restarted.pid));
});
