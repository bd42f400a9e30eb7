/**
 * The process-wide worker pool: one warm Python worker per converter env, started on first
 * use and stopped when the build ends (`stopSharedWorkerPool`, called by the build CLI).
 *
 * Steps of one build share the workers, so TensorFlow and torch are imported once per build
 * instead of once per step. `runInWorker` is what step runners call: it serialises requests
 * per env at this layer (so the worker's stderr can be routed to the log of exactly the step
 * whose request is running) and kills the worker when the step's AbortSignal fires.
 */
import { StepCancelledError } from '../build/spawn.js';
import type { EnvName } from './envs.js';
import { PythonWorker, runOnce, WorkerPool, type RequestOptions, type WorkerOptions } from './worker.js';

/** A pool whose workers send each stderr line to the log of the step they are serving. */
class SharedWorkerPool extends WorkerPool {
  private readonly ownWorkers = new Map<EnvName, PythonWorker>();
  /** The log of the step whose request each env's worker is serving now. */
  readonly sinks = new Map<EnvName, (line: string) => void>();
  /** Per env, the tail of the request chain (see `runInWorker`). */
  readonly chains = new Map<EnvName, Promise<unknown>>();

  constructor(private readonly workerOptions: WorkerOptions) {
    super(workerOptions);
  }

  override get(env: EnvName): PythonWorker {
    let worker = this.ownWorkers.get(env);
    if (!worker) {
      worker = new PythonWorker(env, { ...this.workerOptions, onLog: (line) => this.sinks.get(env)?.(line) });
      this.ownWorkers.set(env, worker);
    }
    return worker;
  }

  override async stopAll(): Promise<void> {
    await Promise.all([...this.ownWorkers.values()].map((worker) => worker.stop()));
  }
}

let shared: SharedWorkerPool | undefined;
let mode: 'warm' | 'fresh' = 'warm';

/**
 * 'warm' (default): requests go to the shared long-lived workers. 'fresh': every request runs in
 * a new Python process (`runOnce`), paying the imports each time; only for comparing the two
 * (scripts/bench-workers.ts). Fresh requests cannot be cancelled midway.
 */
export function setWorkerMode(next: 'warm' | 'fresh'): void {
  mode = next;
}

/** The process-wide pool (created on first call; workers start lazily on their first request). */
export function sharedWorkerPool(): WorkerPool {
  shared ??= new SharedWorkerPool({
    // Converting a big model through onnx2tf takes minutes, never an hour.
    requestTimeoutMs: 45 * 60 * 1000,
    // TensorFlow's first import on a cold disk can take most of a minute on 2 cores.
    startTimeoutMs: 180_000,
  });
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
 * Runs `op` in the shared worker of `env`, one request per env at a time, with the worker's
 * output going to `options.log`. Rejects with the worker's typed errors (WorkerOpError,
 * WorkerCrashedError, WorkerTimeoutError) or StepCancelledError on abort.
 */
export function runInWorker<T = unknown>(env: EnvName, op: string, args: Record<string, unknown>, options: RunInWorkerOptions = {}): Promise<T> {
  if (mode === 'fresh') {
    if (options.signal?.aborted) return Promise.reject(new StepCancelledError(`${op} in a fresh ${env} process`));
    return runOnce<T>(env, op, args, { ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}), ...(options.log ? { onLog: options.log } : {}) });
  }
  sharedWorkerPool();
  const pool = shared!;
  const { signal, log, ...requestOptions } = options;
  const previous = pool.chains.get(env) ?? Promise.resolve();
  const run = previous.then(async () => {
    if (signal?.aborted) throw new StepCancelledError(`${op} in the ${env} worker`);
    const worker = pool.get(env);
    if (log) pool.sinks.set(env, log);
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      // A converter cannot be interrupted from inside: end its process (0 ms grace).
      void worker.stop(0);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await worker.request<T>(op, args, requestOptions);
    } catch (error) {
      if (aborted) throw new StepCancelledError(`${op} in the ${env} worker`);
      throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      pool.sinks.delete(env);
    }
  });
  pool.chains.set(env, run.catch(() => undefined));
  return run;
}
