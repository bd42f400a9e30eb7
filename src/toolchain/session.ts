/**
 * Worker sessions: calls pinned to one worker of an env, for callers that keep state in the
 * worker between calls. A model loaded by `validate.load` lives in that one process, so its
 * handle means nothing to the env's other worker, nor to the process that replaces this one.
 *
 * A session reloads on a generation change: when the pinned process was replaced since a model
 * was loaded (a crash, a timeout, a memory-budget restart), or a call fails because the process
 * died or no longer knows the handle (MODEL_HANDLE_UNKNOWN), the model is loaded again with the
 * same arguments and the call retried, once per model. So a worker killed by one step's
 * converter (SIGFPE) fails that step only, not every validate step that had a model loaded in it.
 * Callers keep the handle of their first load; the session maps it to the current one.
 */
import { EdgezooError } from '../errors.js';
import type { EnvName } from './envs.js';
import type { RunInWorkerOptions } from './pool.js';
import { MODEL_OPS, type OpName, type OpReply, type OpRequest } from './protocol/index.js';
import { WorkerError, type PythonWorker } from './worker.js';

/** Calls pinned to one warm worker of an env, reserved from the first call until `close`. */
export interface WorkerSession {
  /** Runs `op` in the pinned worker; model handles are those of the first load (see the module comment). */
  call<N extends OpName>(op: N, args: OpRequest<N>): Promise<OpReply<N>>;
  /**
   * How many times the pinned worker process has started: a change since a model was loaded
   * means the process was replaced and the model is gone. 0 before the first call.
   */
  readonly generation: number;
  /** How many times a lost model was loaded again. */
  readonly reloads: number;
  /**
   * Gives the worker back to the pool; calls after this reserve one again. Releasing the last
   * loaded model (and a failed load with none loaded) closes the session by itself.
   */
  close(): void;
}

/** True when `error` says the worker lost its loaded models (its process died or was replaced). */
export function lostLoadedModel(error: unknown): boolean {
  return error instanceof WorkerError && (error.code === 'WORKER_CRASHED' || error.code === 'MODEL_HANDLE_UNKNOWN');
}

/** A model loaded through the session. */
interface LoadedModel {
  args: OpRequest<'validate.load'>;
  /** Its handle in the current process. */
  handle: number;
  /** The worker generation it was loaded in. */
  generation: number;
  reloaded: boolean;
}

/** What a session uses of a worker. */
export type SessionWorker = Pick<PythonWorker, 'request' | 'stats'>;

/** Where a session gets its worker; `WorkerPool` is one (unit tests give another). */
export interface SessionPool<W extends SessionWorker> {
  acquire(env: EnvName, log?: (line: string) => void): Promise<W>;
  release(env: EnvName, worker: W): void;
}

/** See WorkerSession. Made by `WorkerPool.openSession`. */
export class PinnedWorkerSession<W extends SessionWorker = PythonWorker> implements WorkerSession {
  private worker: W | undefined;
  /** By the caller's handle (that of the first load). */
  private readonly models = new Map<number, LoadedModel>();
  reloads = 0;

  constructor(
    private readonly pool: SessionPool<W>,
    private readonly env: EnvName,
    private readonly options: RunInWorkerOptions = {},
  ) {}

  get generation(): number {
    return this.worker?.stats.starts ?? 0;
  }

  async call<N extends OpName>(op: N, args: OpRequest<N>): Promise<OpReply<N>> {
    if (op === MODEL_OPS.load) return (await this.load(args as OpRequest<'validate.load'>)) as OpReply<N>;
    if (op === MODEL_OPS.release) return (await this.release(args as OpRequest<'validate.release'>)) as OpReply<N>;
    const handle = (args as { handle?: unknown }).handle;
    const model = typeof handle === 'number' ? this.models.get(handle) : undefined;
    if (!model) return this.send(op, args);
    if (this.generation !== model.generation)
      await this.reload(model, `the worker process was replaced since the model was loaded (before ${op})`);
    try {
      return await this.send(op, { ...args, handle: model.handle });
    } catch (error) {
      if (!lostLoadedModel(error)) throw error;
      await this.reload(model, error instanceof Error ? error.message.split('\n')[0]! : String(error));
      return this.send(op, { ...args, handle: model.handle });
    }
  }

  close(): void {
    if (this.worker) this.pool.release(this.env, this.worker);
    this.worker = undefined;
  }

  private async send<N extends OpName>(op: N, args: OpRequest<N>): Promise<OpReply<N>> {
    const { log, ...requestOptions } = this.options;
    this.worker ??= await this.pool.acquire(this.env, log);
    return this.worker.request(op, args, requestOptions);
  }

  private async load(args: OpRequest<'validate.load'>): Promise<OpReply<'validate.load'>> {
    let reply: OpReply<'validate.load'>;
    try {
      reply = await this.send(MODEL_OPS.load, args);
    } catch (error) {
      // A caller never releases a model it failed to load: give the worker back now.
      if (this.models.size === 0) this.close();
      throw error;
    }
    this.models.set(reply.handle, { args, handle: reply.handle, generation: this.generation, reloaded: false });
    return reply;
  }

  private async release(args: OpRequest<'validate.release'>): Promise<OpReply<'validate.release'>> {
    const model = this.models.get(args.handle);
    try {
      // A model of a replaced process is gone already: nothing to release.
      if (model && this.generation === model.generation) await this.send(MODEL_OPS.release, { handle: model.handle });
    } finally {
      this.models.delete(args.handle);
      if (this.models.size === 0) this.close();
    }
    return { released: args.handle };
  }

  private async reload(model: LoadedModel, why: string): Promise<void> {
    if (model.reloaded)
      throw new EdgezooError('WORKER_MODEL_LOST', `the worker lost the loaded model again after one reload (${why})`);
    model.reloaded = true;
    this.reloads++;
    this.options.log?.(`[edgezoo] loading the model again: ${why}`);
    const reply = await this.send(MODEL_OPS.load, model.args);
    model.handle = reply.handle;
    model.generation = this.generation;
  }
}
