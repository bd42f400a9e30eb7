/**
 * The process-wide worker pool: warm Python workers per converter env, started on first use and
 * stopped when the build ends (`stopSharedWorkerPool`, called by the build CLI).
 *
 * Steps of one build share the workers, so TensorFlow and torch are imported once per worker
 * instead of once per step. `runInWorker` is what step runners call: it hands each request an
 * idle worker of its env (starting up to `workersPerEnv` of them, so two converter steps of the
 * same env run side by side as the executor's --jobs allow), routes that worker's stderr to the
 * log of exactly the step it serves, and kills the worker when the step's AbortSignal fires.
 * `sharedWorkerPool().get(env)` is the first worker of an env, for callers that want one.
 */
import os from 'node:os';
import { StepCancelledError } from '../errors.js';
import type { EnvName } from './envs.js';
import { PythonWorker, runOnce, WorkerPool, type RequestOptions, type WorkerOptions } from './worker.js';

/** Workers of one env and who is waiting for one. */
interface EnvSlots {
  workers: PythonWorker[];
  busy: Set<PythonWorker>;
  waiting: Array<(worker: PythonWorker) => void>;
}

/** A pool whose workers send each stderr line to the log of the request they are serving. */
class SharedWorkerPool extends WorkerPool {
  private readonly slots = new Map<EnvName, EnvSlots>();
  /** The log of the request each worker is serving now. */
  private readonly sinks = new Map<PythonWorker, (line: string) => void>();

  constructor(
    private readonly workerOptions: WorkerOptions,
    private readonly workersPerEnv: number,
  ) {
    super(workerOptions);
  }

  private slotsOf(env: EnvName): EnvSlots {
    let slots = this.slots.get(env);
    if (!slots) {
      slots = { workers: [], busy: new Set(), waiting: [] };
      this.slots.set(env, slots);
    }
    return slots;
  }

  private newWorker(env: EnvName): PythonWorker {
    const worker: PythonWorker = new PythonWorker(env, {
      ...this.workerOptions,
      onLog: (line) => this.sinks.get(worker)?.(line),
    });
    this.slotsOf(env).workers.push(worker);
    return worker;
  }

  override get(env: EnvName): PythonWorker {
    return this.slotsOf(env).workers[0] ?? this.newWorker(env);
  }

  /** An idle worker of `env` (a new one while under the limit), reserved until `release`. */
  async acquire(env: EnvName, log?: (line: string) => void): Promise<PythonWorker> {
    const slots = this.slotsOf(env);
    let worker = slots.workers.find((w) => !slots.busy.has(w));
    if (!worker && slots.workers.length < this.workersPerEnv) worker = this.newWorker(env);
    if (!worker) worker = await new Promise<PythonWorker>((resolve) => slots.waiting.push(resolve));
    slots.busy.add(worker);
    if (log) this.sinks.set(worker, log);
    return worker;
  }

  release(env: EnvName, worker: PythonWorker): void {
    const slots = this.slotsOf(env);
    this.sinks.delete(worker);
    const next = slots.waiting.shift();
    // Handed over directly, so a newcomer cannot overtake a request that waited.
    if (next) next(worker);
    else slots.busy.delete(worker);
  }

  override async stopAll(): Promise<void> {
    await Promise.all([...this.slots.values()].flatMap((slots) => slots.workers.map((worker) => worker.stop())));
  }
}

let shared: SharedWorkerPool | undefined;
let mode: 'warm' | 'fresh' = 'warm';
let workersPerEnv = Math.max(1, Math.min(2, os.availableParallelism()));

/**
 * 'warm' (default): requests go to the shared long-lived workers. 'fresh': every request runs in
 * a new Python process (`runOnce`), paying the imports each time; only for comparing the two
 * (scripts/bench-workers.ts). Fresh requests cannot be cancelled midway.
 */
export function setWorkerMode(next: 'warm' | 'fresh'): void {
  mode = next;
}

/**
 * How many warm workers one env may have (default: 2, or 1 on a single core). Each TensorFlow
 * worker holds ~1-2 GB; the executor's memory budget bounds how many heavy steps run at once.
 * Takes effect for the next pool (after `stopSharedWorkerPool`).
 */
export function setWorkersPerEnv(count: number): void {
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`workers per env must be a whole number >= 1, received ${count}`);
  workersPerEnv = count;
}

/** The process-wide pool (created on first call; workers start lazily on their first request). */
export function sharedWorkerPool(): WorkerPool {
  shared ??= new SharedWorkerPool(
    {
      // Converting a big model through onnx2tf takes minutes, never an hour.
      requestTimeoutMs: 45 * 60 * 1000,
      // TensorFlow's first import on a cold disk can take most of a minute on 2 cores.
      startTimeoutMs: 180_000,
    },
    workersPerEnv,
  );
  return shared;
}

/** Stops every worker of the shared pool; the next `sharedWorkerPool()` call starts afresh. */
export async function stopSharedWorkerPool(): Promise<void> {
  const pool = shared;
  shared = undefined;
  if (pool) await pool.stopAll();
}

/** Options of `runInWorker`. */
export interface RunInWorkerOptions extends RequestOptions {
  /** Aborting kills the worker (the next request starts a fresh one) and rejects with StepCancelledError. */
  signal?: AbortSignal;
  /** Receives the worker's stderr lines while this request runs. */
  log?: (line: string) => void;
}

/**
 * Runs `op` in a warm worker of `env`, with the worker's output going to `options.log`. Rejects
 * with the worker's typed errors (WorkerOpError, WorkerCrashedError, WorkerTimeoutError) or
 * StepCancelledError on abort.
 */
export async function runInWorker<T = unknown>(
  env: EnvName,
  op: string,
  args: Record<string, unknown>,
  options: RunInWorkerOptions = {},
): Promise<T> {
  const { signal, log, ...requestOptions } = options;
  const cancelled = () => new StepCancelledError(`${op} in the ${env} worker`);
  if (signal?.aborted) throw cancelled();
  if (mode === 'fresh') {
    return runOnce<T>(env, op, args, {
      ...(requestOptions.timeoutMs ? { timeoutMs: requestOptions.timeoutMs } : {}),
      ...(log ? { onLog: log } : {}),
    });
  }
  const pool = sharedWorkerPool() as SharedWorkerPool;
  const worker = await pool.acquire(env, log);
  let aborted = false;
  const onAbort = () => {
    aborted = true;
    // A converter cannot be interrupted from inside: end its process (0 ms grace).
    void worker.stop(0);
  };
  try {
    if (signal?.aborted) throw cancelled();
    signal?.addEventListener('abort', onAbort, { once: true });
    return await worker.request<T>(op, args, requestOptions);
  } catch (error) {
    if (aborted) throw cancelled();
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    pool.release(env, worker);
  }
}

/**
 * Calls pinned to one warm worker of an env (reserved from the first call until `close`), for
 * callers that keep state in the worker between calls: a model loaded by `validate.load` lives
 * in that one process, so its handle means nothing to the env's other worker.
 */
export interface WorkerSession {
  call<T = unknown>(op: string, args: Record<string, unknown>): Promise<T>;
  /**
   * How many times the pinned worker process has started: a change since a model was loaded
   * means the process was replaced (a crash, a timeout, a memory-budget restart) and the model
   * is gone. 0 before the first call and in 'fresh' mode.
   */
  readonly generation: number;
  /** Gives the worker back to the pool; calls after this reserve one again. */
  close(): void;
}

/** Opens a WorkerSession on `env`; the signal and log apply to each of its calls (see runInWorker). */
export function openWorkerSession(env: EnvName, options: RunInWorkerOptions = {}): WorkerSession {
  const { signal, log, ...requestOptions } = options;
  let worker: PythonWorker | undefined;
  let pool: SharedWorkerPool | undefined;
  return {
    get generation() {
      return worker?.stats.starts ?? 0;
    },
    async call<T>(op: string, args: Record<string, unknown>): Promise<T> {
      // Fresh processes keep no state between calls: nothing to pin.
      if (mode === 'fresh') return runInWorker<T>(env, op, args, options);
      const cancelled = () => new StepCancelledError(`${op} in the ${env} worker`);
      if (signal?.aborted) throw cancelled();
      if (!worker) {
        pool = sharedWorkerPool() as SharedWorkerPool;
        worker = await pool.acquire(env, log);
      }
      const pinned = worker;
      let aborted = false;
      const onAbort = () => {
        aborted = true;
        void pinned.stop(0);
      };
      try {
        signal?.addEventListener('abort', onAbort, { once: true });
        return await pinned.request<T>(op, args, requestOptions);
      } catch (error) {
        if (aborted) throw cancelled();
        throw error;
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },
    close() {
      if (worker && pool) pool.release(env, worker);
      worker = undefined;
      pool = undefined;
    },
  };
}
