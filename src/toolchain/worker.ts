/**
 * A long-lived Python worker per converter env (src/toolchain/worker.py), so a build pays for
 * importing TensorFlow or torch once. JSON lines over stdio, as src/toolchain/protocol defines
 * them; one request at a time (queued); requests typed by op name, replies parsed by the op's
 * schema.
 *
 * - An op that fails in Python fails that request only (`WorkerOpError`, with the worker's
 *   structured failure: switch on `code`).
 * - A worker that dies or hangs past the timeout fails the request in flight
 *   (`WorkerCrashedError` / `WorkerTimeoutError`) and is started again for the next one.
 * - After a request, a worker whose RSS is above `memoryBudgetMb` is stopped; the next request
 *   starts a fresh one.
 * - Each worker leads a process group of its own; `kill()` ends the group, so tools an op started
 *   (onnxsim under onnx2tf) die with it. Groups still alive when this process exits are killed
 *   then; a worker whose host dies without exiting cleanly (SIGKILL) sees its stdin close and
 *   kills its group itself.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { EdgezooError, StepCancelledError } from '../errors.js';
import { envDef, envProcessEnv, WORKER_SCRIPT, type EnvDef, type EnvName } from './envs.js';
import {
  EXIT_OP,
  OPS,
  ReadyLineSchema,
  ReplyLineSchema,
  type OpErrorCode,
  type OpFailure,
  type OpName,
  type OpReply,
  type OpRequest,
  type ReadyLine,
  type WorkerErrorCode,
} from './protocol/index.js';

/** A failure of a worker call, as a value: `{code, message, op?, node?, detail?}`. */
export type WorkerFailure = Omit<OpFailure, 'code' | 'type' | 'traceback'> & { code: WorkerErrorCode };

/** Any failure of a worker call. `code` says which (see protocol/wire.ts); `failure()` is the value. */
export abstract class WorkerError extends EdgezooError {
  declare readonly code: WorkerErrorCode;
  /** The op the failure is about. */
  readonly op: string | undefined;

  constructor(code: WorkerErrorCode, message: string, op: string | undefined, options?: { hint?: string }) {
    super(code, message, options);
    this.op = op;
  }

  /** The failure as a structured value (for logs, events and tests). */
  failure(): WorkerFailure {
    return { code: this.code, message: this.message, ...(this.op === undefined ? {} : { op: this.op }) };
  }
}

/** The op failed in Python; the worker lives on. `code` is the worker's (OpErrorCode). */
export class WorkerOpError extends WorkerError {
  declare readonly code: OpErrorCode;
  /** The worker's own message (this error's message adds the op and env). */
  readonly reason: string;
  readonly node: string | undefined;
  readonly detail: Record<string, unknown> | undefined;
  /** The Python exception type ('OpError' for expected failures). */
  readonly pythonType: string;
  /** The Python traceback, for the log. */
  readonly pythonTraceback: string;

  constructor(env: EnvName, op: string, failure: OpFailure) {
    super(failure.code, `${op} failed in the ${env} worker: ${failure.message}`, op);
    this.reason = failure.message;
    this.node = failure.node;
    this.detail = failure.detail;
    this.pythonType = failure.type ?? 'Error';
    this.pythonTraceback = failure.traceback ?? '';
  }

  override failure(): WorkerFailure {
    return {
      code: this.code,
      message: this.reason,
      op: this.op!,
      ...(this.node === undefined ? {} : { node: this.node }),
      ...(this.detail === undefined ? {} : { detail: this.detail }),
    };
  }
}

/** The worker process ended (or could not start) while a request was in flight. */
export class WorkerCrashedError extends WorkerError {
  readonly stderrTail: string;
  /** Set when a signal nobody in edgezoo sent ended the worker during the op (not a kill, stop or timeout of ours). */
  readonly externalSignal?: NodeJS.Signals;
  constructor(message: string, stderrTail: string, op?: string, externalSignal?: NodeJS.Signals) {
    super('WORKER_CRASHED', stderrTail ? `${message}\n${stderrTail}` : message, op, {
      hint: 'run `edgezoo doctor` to check the converter environments',
    });
    this.stderrTail = stderrTail;
    if (externalSignal) this.externalSignal = externalSignal;
  }
}

/**
 * The worker was killed by SIGKILL during an op, not by edgezoo: on Linux the kernel's OOM killer
 * (a converter took all the memory). `peakMb` is the largest resident memory of the worker and
 * its child processes measured during the op.
 */
export class WorkerOutOfMemoryError extends WorkerError {
  constructor(
    env: EnvName,
    op: string,
    readonly peakMb: number,
    stderrTail: string,
  ) {
    super(
      'OUT_OF_MEMORY',
      `out of memory: the ${env} worker was killed (SIGKILL, the kernel's OOM killer) during ${op} at a measured peak of ${Math.round(peakMb)} MiB${stderrTail ? `\n${stderrTail}` : ''}`,
      op,
      {
        hint: 'free memory or run fewer steps at once (--jobs 1, a smaller --memory-budget); the next build admits this step with the peak measured now',
      },
    );
  }
}

export class WorkerTimeoutError extends WorkerError {
  constructor(env: EnvName, op: string, ms: number) {
    super('WORKER_TIMEOUT', `${op} in the ${env} worker took longer than ${ms} ms; the worker was killed`, op);
  }
}

/** The worker said something outside the protocol (a reply of another shape): a bug in edgezoo. */
export class WorkerProtocolError extends WorkerError {
  constructor(env: EnvName, op: string | undefined, what: string) {
    super('WORKER_PROTOCOL', `the ${env} worker broke the protocol${op ? ` answering ${op}` : ''}: ${what}`, op);
  }
}

export interface WorkerOptions {
  /** Default timeout of a request (default 30 min). */
  requestTimeoutMs?: number;
  /** Time allowed for the worker to start and say ready (default 60 s). */
  startTimeoutMs?: number;
  /** Restart the worker after a request when its RSS exceeds this (default 6144 MiB). */
  memoryBudgetMb?: number;
  /** Every line the worker (and the tools in it) write to stderr, and edgezoo's notes on it. */
  onLog?: (line: string) => void;
  /** How many stderr lines to keep for error messages (default 60). */
  keepLines?: number;
}

export interface RequestOptions {
  timeoutMs?: number;
  /**
   * Aborting kills the worker's process group (an op cannot be interrupted from inside; the next
   * request starts a fresh worker) and rejects with StepCancelledError.
   */
  signal?: AbortSignal;
  /** Updated with the largest resident memory (MiB) of the worker and its children seen during the op. */
  memory?: { peakMb: number };
}

/** How often the memory of a worker running an op is sampled. */
const MEMORY_SAMPLE_MS = 250;

/** Resident memory (MiB) of `pid` and every process below it (Linux /proc), 0 when unknown. */
export async function processTreeRssMb(pid: number): Promise<number> {
  let total = 0;
  const seen = new Set<number>();
  const visit = async (id: number): Promise<void> => {
    if (seen.has(id) || seen.size > 256) return;
    seen.add(id);
    try {
      const status = await readFile(`/proc/${id}/status`, 'utf8');
      const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
      if (m) total += Number(m[1]) / 1024;
      const children = await readFile(`/proc/${id}/task/${id}/children`, 'utf8');
      for (const child of children.split(/\s+/).filter(Boolean)) await visit(Number(child));
    } catch {
      // gone, or not Linux
    }
  };
  await visit(pid);
  return total;
}

interface Pending {
  id: number;
  child: ChildProcessWithoutNullStreams;
  op: OpName;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer?: NodeJS.Timeout;
}

export interface WorkerStats {
  starts: number;
  requests: number;
  /** Requests sent to the process running now. */
  requestsSinceStart: number;
  /** Restarts for exceeding the memory budget. */
  memoryRestarts: number;
}

/** Process groups of workers alive now, killed when this process exits. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers run synchronously on a normal exit and on process.exit() (the build's
  // second Ctrl-C), so no worker group outlives us then.
  process.on('exit', () => {
    for (const pid of liveGroups) killGroup(pid);
  });
}

/** What a ready worker offers, and what it lacks (see ReadyLine). */
export type WorkerInfo = ReadyLine;

export class PythonWorker {
  readonly env: EnvDef;
  readonly stats: WorkerStats = { starts: 0, requests: 0, requestsSinceStart: 0, memoryRestarts: 0 };
  private readonly opts: Required<Omit<WorkerOptions, 'onLog'>> & Pick<WorkerOptions, 'onLog'>;
  private child?: ChildProcessWithoutNullStreams;
  private ready?: Promise<WorkerInfo>;
  private readyInfo?: WorkerInfo;
  private pending?: Pending;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private stderrTail: string[] = [];

  constructor(env: EnvName | EnvDef, options: WorkerOptions = {}) {
    this.env = typeof env === 'string' ? envDef(env) : env;
    this.opts = {
      requestTimeoutMs: options.requestTimeoutMs ?? 30 * 60 * 1000,
      startTimeoutMs: options.startTimeoutMs ?? 60_000,
      memoryBudgetMb: options.memoryBudgetMb ?? 6144,
      keepLines: options.keepLines ?? 60,
      onLog: options.onLog,
    };
  }

  /** The worker's process id (and process group id), while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** What the running worker said when it started (undefined before). */
  get info(): WorkerInfo | undefined {
    return this.readyInfo;
  }

  /** Starts the worker (if not running) and waits until it is ready. */
  async start(): Promise<WorkerInfo> {
    if (!this.ready) this.ready = this.spawn();
    return this.ready;
  }

  /** Sends one request; requests are served one after the other. */
  request<N extends OpName>(op: N, args: OpRequest<N>, opts: RequestOptions = {}): Promise<OpReply<N>> {
    const run = this.queue.then(() => this.send(op, args, opts));
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * Asks the worker to exit (the next request starts a new one); kills its process group after
   * a grace period.
   */
  async stop(graceMs = 3000): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.detach(child);
    // Never started (spawn failed) or already gone: there is no 'exit' to wait for.
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      child.stdin.write(`${JSON.stringify({ id: 0, op: EXIT_OP })}\n`);
      child.stdin.end();
    } catch {
      // already gone
    }
    const timer = setTimeout(() => child.pid !== undefined && killGroup(child.pid), graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** Ends the worker and everything it started (its process group) at once; the next request starts a new one. */
  kill(): void {
    const child = this.child;
    if (!child || child.pid === undefined) return;
    this.detach(child);
    killGroup(child.pid);
  }

  /** Resident memory of the worker process in MiB (Linux /proc), or undefined. */
  async rssMb(): Promise<number | undefined> {
    const pid = this.child?.pid;
    if (!pid) return undefined;
    try {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
      return m ? Number(m[1]) / 1024 : undefined;
    } catch {
      return undefined;
    }
  }

  private async send<N extends OpName>(op: N, args: OpRequest<N>, opts: RequestOptions): Promise<OpReply<N>> {
    const { signal } = opts;
    const cancelled = () => new StepCancelledError(`${op} in the ${this.env.name} worker`);
    if (signal?.aborted) throw cancelled();
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      this.kill();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let result: unknown;
    const memory = { peakMb: 0 };
    let sampling = false;
    const sampler = setInterval(() => {
      const pid = this.child?.pid;
      if (sampling || pid === undefined) return;
      sampling = true;
      void processTreeRssMb(pid)
        .then((mb) => {
          memory.peakMb = Math.max(memory.peakMb, mb);
          if (opts.memory) opts.memory.peakMb = Math.max(opts.memory.peakMb, mb);
        })
        .finally(() => {
          sampling = false;
        });
    }, MEMORY_SAMPLE_MS);
    sampler.unref();
    try {
      result = await this.exchange(op, args, opts.timeoutMs ?? this.opts.requestTimeoutMs);
    } catch (error) {
      if (aborted) throw cancelled();
      // Killed by SIGKILL, not by edgezoo (cancel, stop, timeout), while the op ran and grew (at
      // least one memory sample): the kernel's OOM killer.
      if (error instanceof WorkerCrashedError && error.externalSignal === 'SIGKILL' && memory.peakMb > 0)
        throw new WorkerOutOfMemoryError(this.env.name, op, memory.peakMb, error.stderrTail);
      throw error;
    } finally {
      clearInterval(sampler);
      signal?.removeEventListener('abort', onAbort);
    }
    await this.checkMemory();
    const parsed = OPS[op].reply.safeParse(result);
    if (!parsed.success)
      throw new WorkerProtocolError(this.env.name, op, `the reply does not match its schema: ${parsed.error.message}`);
    return parsed.data as OpReply<N>;
  }

  /** Writes one request line and waits for its reply (or the worker's death, or the timeout). */
  private async exchange(op: OpName, args: unknown, timeoutMs: number): Promise<unknown> {
    await this.start();
    const child = this.child;
    if (!child) throw new WorkerCrashedError(`the ${this.env.name} worker is not running`, this.tail(), op);
    const id = this.nextId++;
    this.stats.requests++;
    this.stats.requestsSinceStart++;
    return new Promise<unknown>((resolve, reject) => {
      const pending: Pending = { id, child, op, resolve, reject };
      pending.timer = setTimeout(() => {
        if (this.pending !== pending) return;
        this.pending = undefined;
        this.kill(); // the next request starts a new worker at once
        reject(new WorkerTimeoutError(this.env.name, op, timeoutMs));
      }, timeoutMs);
      this.pending = pending;
      child.stdin.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  }

  private async checkMemory(): Promise<void> {
    const rss = await this.rssMb();
    if (rss !== undefined && rss > this.opts.memoryBudgetMb) {
      this.stats.memoryRestarts++;
      this.log(
        `[edgezoo] ${this.env.name} worker uses ${rss.toFixed(0)} MiB > budget ${this.opts.memoryBudgetMb} MiB: restarting`,
      );
      await this.stop();
    }
  }

  private spawn(): Promise<WorkerInfo> {
    this.stats.starts++;
    this.stats.requestsSinceStart = 0;
    this.stderrTail = [];
    installExitHook();
    const child = spawn(this.env.python, ['-u', WORKER_SCRIPT], {
      env: envProcessEnv(this.env),
      stdio: ['pipe', 'pipe', 'pipe'],
      // The leader of a process group of its own: one kill reaches the tools its ops start.
      detached: true,
    });
    this.child = child;
    const pid = child.pid;
    if (pid !== undefined) liveGroups.add(pid);
    child.stdin.on('error', () => {}); // EPIPE when it died: reported through 'exit'
    createInterface({ input: child.stderr }).on('line', (line) => this.log(line));

    return new Promise<WorkerInfo>((resolve, reject) => {
      let settled = false;
      const startTimer = setTimeout(() => {
        if (settled) return;
        settled = true;
        reject(
          new WorkerCrashedError(
            `the ${this.env.name} worker did not start within ${this.opts.startTimeoutMs} ms`,
            this.tail(),
          ),
        );
        if (pid !== undefined) killGroup(pid);
      }, this.opts.startTimeoutMs);

      createInterface({ input: child.stdout }).on('line', (line) => {
        let message: unknown;
        try {
          message = JSON.parse(line);
        } catch {
          this.log(`[edgezoo] unexpected line on the ${this.env.name} worker's stdout: ${line}`);
          return;
        }
        if ((message as { event?: unknown }).event === 'ready') {
          const ready = ReadyLineSchema.safeParse(message);
          if (settled) return;
          settled = true;
          clearTimeout(startTimer);
          if (!ready.success) {
            reject(new WorkerProtocolError(this.env.name, undefined, `its ready line: ${ready.error.message}`));
            if (pid !== undefined) killGroup(pid);
            return;
          }
          this.readyInfo = ready.data;
          this.reportGaps(ready.data);
          resolve(ready.data);
          return;
        }
        const pending = this.pending;
        const reply = ReplyLineSchema.safeParse(message);
        if (!reply.success) {
          this.log(`[edgezoo] a line outside the protocol from the ${this.env.name} worker: ${line}`);
          return;
        }
        // A late answer to a timed-out request, or the answer to __exit__.
        if (!pending || pending.child !== child || reply.data.id !== pending.id) return;
        this.pending = undefined;
        clearTimeout(pending.timer);
        if (reply.data.seconds >= 1)
          this.log(`[edgezoo] ${pending.op}: ${reply.data.seconds.toFixed(1)} s in the ${this.env.name} worker`);
        if (reply.data.ok) pending.resolve(reply.data.result);
        else pending.reject(new WorkerOpError(this.env.name, pending.op, reply.data.error));
      });

      child.on('error', (error) => {
        this.log(`[edgezoo] cannot start ${this.env.python}: ${error.message}`);
        // A python that cannot be run (ENOENT: the env is not set up) never emits 'exit': fail the
        // start now rather than after the start timeout.
        if (child.pid === undefined) {
          this.detach(child);
          if (!settled) {
            settled = true;
            clearTimeout(startTimer);
            reject(
              new WorkerCrashedError(
                `the ${this.env.name} worker cannot start: ${this.env.python}: ${error.message}` +
                  ((error as NodeJS.ErrnoException).code === 'ENOENT'
                    ? ' (is the env set up? run `edgezoo setup`)'
                    : ''),
                this.tail(),
              ),
            );
          }
        }
      });
      child.on('exit', (code, signal) => {
        // edgezoo's own kills (cancel, stop, timeout) detach the child first.
        const external = this.child === child ? (signal ?? undefined) : undefined;
        if (pid !== undefined) {
          // The leader is gone; nothing it started may linger in its group.
          killGroup(pid);
          liveGroups.delete(pid);
        }
        this.detach(child);
        const how = signal ? `signal ${signal}` : `exit code ${code}`;
        if (!settled) {
          settled = true;
          clearTimeout(startTimer);
          reject(
            new WorkerCrashedError(
              `the ${this.env.name} worker (${this.env.python}) ended before it was ready (${how})`,
              this.tail(),
            ),
          );
        }
        const pending = this.pending;
        if (pending && pending.child === child) {
          this.pending = undefined;
          clearTimeout(pending.timer);
          pending.reject(
            new WorkerCrashedError(
              `the ${this.env.name} worker died during ${pending.op} (${how})`,
              this.tail(),
              pending.op,
              external,
            ),
          );
        }
      });
    });
  }

  /** Says at start, in the log, which ops this worker cannot serve and why. */
  private reportGaps(info: WorkerInfo): void {
    if (info.missingOps.length > 0) {
      const broken = Object.entries(info.brokenModules).map(([module, error]) => `${module}: ${error}`);
      this.log(
        `[edgezoo] the ${this.env.name} worker cannot serve ${info.missingOps.join(', ')}` +
          (broken.length > 0 ? ` (modules that failed to import: ${broken.join('; ')})` : ''),
      );
    }
    if (info.unknownOps.length > 0)
      this.log(
        `[edgezoo] the ${this.env.name} worker registers ops outside the protocol, never served: ${info.unknownOps.join(', ')}`,
      );
  }

  private detach(child: ChildProcessWithoutNullStreams): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.ready = undefined;
    this.readyInfo = undefined;
  }

  private log(line: string): void {
    this.stderrTail.push(line);
    if (this.stderrTail.length > this.opts.keepLines) this.stderrTail.shift();
    this.opts.onLog?.(line);
  }

  private tail(): string {
    return this.stderrTail.join('\n');
  }
}

/**
 * Starts a worker of `env`, reads what it offers and stops it: for `edgezoo doctor`, to show
 * missing ops and modules that failed to import before any build needs them.
 */
export async function probeWorker(env: EnvName | EnvDef, options: WorkerOptions = {}): Promise<WorkerInfo> {
  const worker = new PythonWorker(env, options);
  try {
    return await worker.start();
  } finally {
    await worker.stop();
  }
}
