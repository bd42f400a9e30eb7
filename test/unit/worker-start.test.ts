/**
 * A worker whose python cannot be run (an env not set up yet: a clean checkout before
 * `edgezoo setup`) fails its start at once with the reason, and stopping it returns at once. Seen
 * in CI: the unit tests run before setup, a convert step's LiteRT check waited out the 180 s
 * start timeout, and the pool's stop then waited forever for an exit that never comes.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { PythonWorker, WorkerCrashedError } from '../../src/toolchain/worker.js';

test('a worker whose python is missing fails its first request at once, and stops at once', async () => {
  const dir = path.join(os.tmpdir(), `edgezoo-no-env-${process.pid}`);
  const python = path.join(dir, 'bin', 'python');
  const worker = new PythonWorker(
    {
      name: 'tf',
      inFile: 'tf.in',
      lockFile: 'tf.lock',
      dir,
      binDir: path.dirname(python),
      python,
      stampFile: path.join(dir, 'stamp.json'),
    },
    { startTimeoutMs: 60_000 },
  );
  const started = Date.now();
  await assert.rejects(
    worker.request('onnx.slim', {} as never),
    (error: unknown) =>
      error instanceof WorkerCrashedError &&
      error.message.includes(python) &&
      error.message.includes('ENOENT') &&
      error.message.includes('edgezoo setup'),
  );
  assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  await worker.stop();
  // A second request tries again (the env may have been set up meanwhile) and fails the same way.
  await assert.rejects(worker.start(), WorkerCrashedError);
  await worker.stop();
});
