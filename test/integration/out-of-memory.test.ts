/**
 * A converter worker killed by SIGKILL during an op (what the kernel's OOM killer does; here
 * sent by the test, with the real torch worker) is reported as out of memory with the peak
 * resident memory measured while the op ran, and the executor keeps that peak for the step, so
 * the memory gate admits it with it next time (12.6b). Needs the torch venv.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { MemoryPeaks } from '../../src/build/memory-gate.js';
import { ConverterOutOfMemoryError, runConverterOp } from '../../src/toolchain/backends/run-tool.js';
import type { ConvertJob } from '../../src/toolchain/backends/types.js';
import { stopSharedWorkerPool } from '../../src/toolchain/pool.js';
import { modelCode, spawnedPids } from './worker-fixtures.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-oom-'));
after(async () => {
  await stopSharedWorkerPool();
  rmSync(tmp, { recursive: true, force: true });
});

test('a worker killed by SIGKILL is out of memory, with its measured peak; the peak is kept for the step', async () => {
  const lines: string[] = [];
  const memory = { peakMb: 0 };
  const job = {
    model: 'big',
    stepId: 'big/convert/tflite/fp32',
    signal: new AbortController().signal,
    log: (line: string) => lines.push(line),
    memory,
  } as unknown as ConvertJob;
  const pidfile = path.join(tmp, 'pids');
  const running = runConverterOp(
    job,
    'onnx2tf',
    'torch',
    'validate.load',
    modelCode('spawning', { pidfile, seconds: 60 }),
  );
  const [worker] = await spawnedPids(pidfile);
  // Let the sampler see the worker (it samples every 250 ms), then kill it as the OOM killer would.
  await new Promise((resolve) => setTimeout(resolve, 800));
  process.kill(worker, 'SIGKILL');
  const error = await running.then(
    () => assert.fail('the op should fail'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ConverterOutOfMemoryError, String(error));
  assert.equal(error.code, 'OUT_OF_MEMORY');
  assert.ok(error.peakMb > 50, `peak ${error.peakMb} MiB`);
  assert.match(
    error.message,
    /^big: step big\/convert\/tflite\/fp32: onnx2tf ran out of memory: the torch worker was killed \(SIGKILL, the kernel's OOM killer\) during validate\.load at a measured peak of \d+ MiB/,
  );
  assert.ok(memory.peakMb >= error.peakMb - 1);
  assert.match(error.hint ?? '', /--jobs 1/);

  // What the executor does with it: the next admission of the step uses the peak.
  const file = path.join(tmp, 'peaks.json');
  const peaks = await MemoryPeaks.load(file);
  assert.equal(peaks.admit(job.stepId, 4096), 4096);
  peaks.record(job.stepId, Math.round(error.peakMb));
  await peaks.save();
  const again = await MemoryPeaks.load(file);
  assert.equal(again.admit(job.stepId, 4096), Math.round(error.peakMb));
  assert.deepEqual(Object.keys(JSON.parse(readFileSync(file, 'utf8'))), [job.stepId]);
});
