/**
 * WorkerSession's "reload on generation change", against a stand-in worker whose models live in
 * a process that can be replaced (the real worker: test/integration/convert-pool.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OpName, OpReply, OpRequest } from '../../src/toolchain/protocol/index.js';
import { lostLoadedModel, PinnedWorkerSession, type SessionWorker } from '../../src/toolchain/session.js';
import { WorkerCrashedError, WorkerOpError, WorkerTimeoutError } from '../../src/toolchain/worker.js';

/** Models live in the "process" until `restart`; a handle it does not know is MODEL_HANDLE_UNKNOWN. */
class FakeWorker implements SessionWorker {
  stats = { starts: 1, requests: 0, requestsSinceStart: 0, memoryRestarts: 0 };
  models = new Map<number, string>();
  nextHandle = 1;
  calls: string[] = [];
  crashOnNextRun = false;
  failLoads = false;

  async request<N extends OpName>(op: N, args: OpRequest<N>): Promise<OpReply<N>> {
    this.calls.push(op);
    return (await this.answer(op, args as Record<string, unknown>)) as OpReply<N>;
  }

  private async answer(op: OpName, args: Record<string, unknown>): Promise<unknown> {
    if (op === 'validate.load') {
      if (this.failLoads) throw new WorkerCrashedError('the tf worker died during validate.load (SIGSEGV)', '');
      const handle = this.nextHandle++;
      this.models.set(handle, args.model as string);
      return { handle, inputs: [], outputs: [], loadSeconds: 0, rssDeltaBytes: 0 };
    }
    if (op === 'validate.release') {
      this.models.delete(args.handle as number);
      return { released: args.handle };
    }
    if (this.crashOnNextRun) {
      this.crashOnNextRun = false;
      this.restart();
      throw new WorkerCrashedError('the tf worker died during validate.run (SIGFPE)', '');
    }
    if (!this.models.has(args.handle as number)) {
      throw new WorkerOpError('tf', op, {
        code: 'MODEL_HANDLE_UNKNOWN',
        message: `no loaded model with handle ${String(args.handle)} in this worker`,
        type: 'OpError',
      });
    }
    return { outputs: [{ name: this.models.get(args.handle as number)!, npy: '', dims: [], dtype: '' }], seconds: 0 };
  }

  restart(): void {
    this.stats.starts++;
    this.models.clear();
  }
}

function sessionOn(worker: FakeWorker) {
  const pool = {
    acquired: 0,
    released: 0,
    async acquire() {
      pool.acquired++;
      return worker;
    },
    release() {
      pool.released++;
    },
  };
  const log: string[] = [];
  return { session: new PinnedWorkerSession(pool, 'tf', { log: (line) => log.push(line) }), pool, log };
}

const run = (handle: number) => ({ handle, inputs: {}, outputDir: '/tmp/out' });

test('a session loads again when the worker process was replaced, keeping the caller handle', async () => {
  const worker = new FakeWorker();
  const { session, pool, log } = sessionOn(worker);
  const { handle } = await session.call('validate.load', { runtime: 'litert', model: 'a.tflite' });
  assert.equal(session.generation, 1);
  worker.restart(); // e.g. a memory-budget restart between two runs
  const reply = await session.call('validate.run', run(handle));
  assert.equal(reply.outputs[0]!.name, 'a.tflite');
  assert.deepEqual(worker.calls, ['validate.load', 'validate.load', 'validate.run']);
  assert.equal(session.reloads, 1);
  assert.deepEqual(log, [
    '[edgezoo] loading the model again: the worker process was replaced since the model was loaded (before validate.run)',
  ]);
  // The caller releases the handle it was given; the session releases the current one and gives the worker back.
  assert.deepEqual(await session.call('validate.release', { handle }), { released: handle });
  assert.equal(worker.models.size, 0);
  assert.deepEqual([pool.acquired, pool.released], [1, 1]);
});

test('a session retries once after a crash or an unknown handle, then gives up', async () => {
  const worker = new FakeWorker();
  const { session } = sessionOn(worker);
  const { handle } = await session.call('validate.load', { runtime: 'litert', model: 'b.tflite' });
  worker.crashOnNextRun = true;
  const reply = await session.call('validate.run', run(handle));
  assert.equal(reply.outputs[0]!.name, 'b.tflite');
  assert.deepEqual(worker.calls, ['validate.load', 'validate.run', 'validate.load', 'validate.run']);
  // A second loss of the same model is not hidden.
  worker.models.clear();
  await assert.rejects(
    () => session.call('validate.run', run(handle)),
    (error: unknown) =>
      error instanceof Error &&
      error.message ===
        'the worker lost the loaded model again after one reload (validate.run failed in the tf worker: no loaded model with handle 2 in this worker)',
  );
});

test('a session gives the worker back when a load fails with nothing loaded', async () => {
  const worker = new FakeWorker();
  worker.failLoads = true;
  const { session, pool } = sessionOn(worker);
  await assert.rejects(() => session.call('validate.load', { runtime: 'litert', model: 'c.tflite' }), /SIGSEGV/);
  assert.deepEqual([pool.acquired, pool.released], [1, 1]);
});

test('lostLoadedModel: switches on the code, never on the message', () => {
  assert.equal(lostLoadedModel(new WorkerCrashedError('died', '')), true);
  const failure = (code: 'MODEL_HANDLE_UNKNOWN' | 'INPUT_MISMATCH', message: string) =>
    new WorkerOpError('tf', 'validate.run', { code, message });
  assert.equal(lostLoadedModel(failure('MODEL_HANDLE_UNKNOWN', 'worded any way at all')), true);
  assert.equal(lostLoadedModel(failure('INPUT_MISMATCH', 'no loaded model with handle 3')), false);
  assert.equal(lostLoadedModel(new WorkerTimeoutError('tf', 'validate.run', 10)), false);
  assert.equal(lostLoadedModel(new Error('no loaded model with handle 3')), false);
});

test('worker failures are structured values, whichever side found them', () => {
  const fromPython = new WorkerOpError('tf', 'onnx2tf.convert', {
    code: 'OP_NOT_SUPPORTED',
    message: "ModuleNotFoundError: No module named 'onnx2tf.ops.Mystery'",
    node: 'mystery_node',
    detail: { opTypes: ['Mystery'], nodes: { Mystery: ['mystery_node'] } },
    type: 'OpError',
    traceback: 'Traceback (most recent call last): ...',
  });
  assert.deepEqual(fromPython.failure(), {
    code: 'OP_NOT_SUPPORTED',
    message: "ModuleNotFoundError: No module named 'onnx2tf.ops.Mystery'",
    op: 'onnx2tf.convert',
    node: 'mystery_node',
    detail: { opTypes: ['Mystery'], nodes: { Mystery: ['mystery_node'] } },
  });
  assert.equal(
    fromPython.message,
    "onnx2tf.convert failed in the tf worker: ModuleNotFoundError: No module named 'onnx2tf.ops.Mystery'",
  );
  assert.deepEqual(new WorkerTimeoutError('tf', 'validate.run', 10).failure(), {
    code: 'WORKER_TIMEOUT',
    message: 'validate.run in the tf worker took longer than 10 ms; the worker was killed',
    op: 'validate.run',
  });
  assert.deepEqual(
    new WorkerCrashedError('the tf worker died during validate.run (signal SIGFPE)', '', 'validate.run').failure(),
    {
      code: 'WORKER_CRASHED',
      message: 'the tf worker died during validate.run (signal SIGFPE)',
      op: 'validate.run',
    },
  );
});
