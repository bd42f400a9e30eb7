/**
 * Worker pools: warm Python workers per converter env, started on first use and stopped with the
 * pool. The process-wide pool (`sharedWorkerPool`) is stopped when the build ends
 * (`stopSharedWorkerPool`, called by the build CLI).
 *
 * Steps of one build share the workers, so TensorFlow and torch are imported once per worker
 * instead of once per step. `runInWorker` is what step runners call: it hands each request an
 * idle worker of its env (starting up to `workersPerEnv` of them, so two converter steps of the
 * same env run side by side as the executor's --jobs allow), routes that worker's stderr to the
 * log of exactly the step it serves, and kills the worker (its process group) when the step's
 * AbortSignal fires. `openWorkerSession` pins one worker for callers that keep models in it.
 */
import os from 'node:os';
import { StepCancelledError } from '../errors.js';
import type { EnvName } from './envs.js';
import type { OpName, OpReply, OpRequest } from './protocol/index.js';
import { PinnedWorkerSession, type WorkerSession } from './session.js';
import { PythonWorker, type RequestOptions, type WorkerOptions } from './worker.js';

/** How a pool runs its workers. */
export interface WorkerPoolOptions extends Omit<WorkerOptions, 'onLog'> {
  /**
   * How many warm workers one env may have (default: 2, or 1 on a single core). Each TensorFlow
   * worker holds ~1-2 GB; the executor's memory budget bounds how many heavy steps run at once.
   */
  workersPerEnv?: number;
  /**
   * A worker given back after serving this many requests is stopped; the next request starts a
   * fresh process (default: never). 1 gives a fresh Python process per request, paying the
   * imports every time: scripts/bench-workers.ts compares that with warm workers.
   */
  requestsPerWorker?: number;
}

/** Options of `runInWorker` and `openWorkerSession`. */
export interface RunInWorkerOptions extends RequestOptions {
  /** Receives the worker's stderr lines while this request (or session) runs. */
  log?: (line: string) => void;
}

function checkPoolOptions(options: WorkerPoolOptions): void {
  for (const [name, value] of [
    ['workers per env', options.workersPerEnv],
    ['requests per worker', options.requestsPerWorker],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 1))
      throw new RangeError(`${name} must be a whole number >= 1, received ${value}`);
  }
}

/** Workers of one env and who is waiting for one. */
interface EnvSlots {
  workers: PythonWorker[];
  busy: Set<PythonWorker>;
  waiting: Array<(worker: PythonWorker) => void>;
}

/** Workers per env, each serving one caller at a time; stderr goes to the log of the caller served. */
export class WorkerPool {
  private readonly slots = new Map<EnvName, EnvSlots>();
  /** The log of the caller each worker is serving now. */
  private readonly sinks = new Map<PythonWorker, (line: string) => void>();
  private readonly workerOptions: WorkerOptions;
  private readonly workersPerEnv: number;
  private readonly requestsPerWorker: number;

  constructor(options: WorkerPoolOptions = {}) {
    checkPoolOptions(options);
    const { workersPerEnv, requestsPerWorker, ...workerOptions } = options;
    this.workersPerEnv = workersPerEnv ?? Math.max(1, Math.min(2, os.availableParallelism()));
    this.requestsPerWorker = requestsPerWorker ?? Infinity;
    this.workerOptions = workerOptions;
  }

  private slotsOf(env: EnvName): EnvSlots {
    let slots = this.slots.get(env);
    if (!slots) {
      slots = { workers: [], busy: new Set(), waiting: [] };
      this.slots.set(env, slots);
    }
    return slots;
  }

  /** The workers of `env` made so far (for tests and figures). */
  workers(env: EnvName): readonly PythonWorker[] {
    return this.slotsOf(env).workers;
  }

  /** An idle worker of `env` (a new one while under the limit), reserved until `release`. */
  async acquire(env: EnvName, log?: (line: string) => void): Promise<PythonWorker> {
    const slots = this.slotsOf(env);
    let worker = slots.workers.find((w) => !slots.busy.has(w));
    if (!worker && slots.workers.length < this.workersPerEnv) {
      const made: PythonWorker = new PythonWorker(env, {
        ...this.workerOptions,
        onLog: (line) => this.sinks.get(made)?.(line),
      });
      slots.workers.push(made);
      worker = made;
    }
    if (!worker) worker = await new Promise<PythonWorker>((resolve) => slots.waiting.push(resolve));
    slots.busy.add(worker);
    if (log) this.sinks.set(worker, log);
    return worker;
  }

  /** Gives a worker back (stopping it first when it has served `requestsPerWorker` requests). */
  release(env: EnvName, worker: PythonWorker): void {
    const slots = this.slotsOf(env);
    this.sinks.delete(worker);
    // stop() detaches the process at once: the next request starts a fresh one.
    if (worker.stats.requestsSinceStart >= this.requestsPerWorker) void worker.stop();
    const next = slots.waiting.shift();
    // Handed over directly, so a newcomer cannot overtake a request that waited.
    if (next) next(worker);
    else slots.busy.delete(worker);
  }

  /**
   * Runs `op` in an idle worker of `env`, with the worker's output going to `options.log`.
   * Rejects with the worker's typed errors (WorkerOpError, WorkerCrashedError,
   * WorkerTimeoutError, WorkerProtocolError) or StepCancelledError on abort.
   */
  async run<N extends OpName>(
    env: EnvName,
    op: N,
    args: OpRequest<N>,
    options: RunInWorkerOptions = {},
  ): Promise<OpReply<N>> {
    const { log, ...requestOptions } = options;
    if (requestOptions.signal?.aborted) throw new StepCancelledError(`${op} in the ${env} worker`);
    const worker = await this.acquire(env, log);
    try {
      return await worker.request(op, args, requestOptions);
    } finally {
      this.release(env, worker);
    }
  }

  /** A session pinned to one worker of `env` (see WorkerSession). */
  openSession(env: EnvName, options: RunInWorkerOptions = {}): WorkerSession {
    return new PinnedWorkerSession(this, env, options);
  }

  /** Stops every worker (the running ops' process groups are killed). */
  async stop(): Promise<void> {
    await Promise.all([...this.slots.values()].flatMap((slots) => slots.workers.map((worker) => worker.stop())));
  }
}

/** Options of the process-wide pool: long requests, a slow first TensorFlow import. */
const SHARED_DEFAULTS: WorkerPoolOptions = {
  // Converting a big model through onnx2tf takes minutes, never an hour.
  requestTimeoutMs: 45 * 60 * 1000,
  // TensorFlow's first import on a cold disk can take most of a minute on 2 cores.
  startTimeoutMs: 180_000,
};

let shared: WorkerPool | undefined;
let sharedOptions: WorkerPoolOptions = SHARED_DEFAULTS;

/** The process-wide pool (created on first call; workers start lazily on their first request). */
export function sharedWorkerPool(): WorkerPool {
  shared ??= new WorkerPool(sharedOptions);
  return shared;
}

/**
 * Stops the process-wide pool; the next one is made with `options` (over the defaults): e.g.
 * `{workersPerEnv: 1}` in tests, `{requestsPerWorker: 1}` in scripts/bench-workers.ts.
 */
export async function configureSharedWorkerPool(options: WorkerPoolOptions): Promise<void> {
  checkPoolOptions(options); // before the running pool is stopped
  await stopSharedWorkerPool();
  sharedOptions = { ...SHARED_DEFAULTS, ...options };
}

/** Stops every worker of the shared pool; the next `sharedWorkerPool()` call starts afresh. */
export async function stopSharedWorkerPool(): Promise<void> {
  const pool = shared;
  shared = undefined;
  if (pool) await pool.stop();
}

/** `sharedWorkerPool().run(...)`: what step runners call. */
export function runInWorker<N extends OpName>(
  env: EnvName,
  op: N,
  args: OpRequest<N>,
  options: RunInWorkerOptions = {},
): Promise<OpReply<N>> {
  return sharedWorkerPool().run(env, op, args, options);
}

/** `sharedWorkerPool().openSession(...)`: a session on the shared pool (see WorkerSession). */
export function openWorkerSession(env: EnvName, options: RunInWorkerOptions = {}): WorkerSession {
  return sharedWorkerPool().openSession(env, options);
}

export type { WorkerSession } from './session.js';
