/**
 * A long-lived Python worker per converter env (src/toolchain/worker.py), so a build pays for
 * importing TensorFlow or torch once. JSON lines over stdio; one request at a time (queued).
 *
 * - A request that raises in Python fails that request only (`WorkerOpError`).
 * - A worker that dies or hangs past the timeout fails the request in flight
 *   (`WorkerCrashedError` / `WorkerTimeoutError`) and is started again for the next one.
 * - After a request, a worker whose RSS is above `memoryBudgetMb` is stopped; the next request
 *   starts a fresh one.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { EdgezooError } from '../errors.js';
import { envDef, envProcessEnv, WORKER_SCRIPT, type EnvDef, type EnvName } from './envs.js';
import { runCommand } from './process.js';

export interface PythonError {
  type: string;
  message: string;
  traceback: string;
}

/** The op raised in Python; the worker lives on. */
export class WorkerOpError extends EdgezooError {
  readonly op: string;
  readonly pythonType: string;
  readonly pythonTraceback: string;
  constructor(env: EnvName, op: string, error: PythonError) {
    super('WORKER_OP_FAILED', `${op} failed in the ${env} worker: ${error.type}: ${error.message}`);
    this.op = op;
    this.pythonType = error.type;
    this.pythonTraceback = error.traceback;
  }
}

/** The worker process ended (or could not start) while a request was in flight. */
export class WorkerCrashedError extends EdgezooError {
  readonly stderrTail: string;
  constructor(message: string, stderrTail: string) {
    super('WORKER_CRASHED', stderrTail ? `${message}\n${stderrTail}` : message, {
      hint: 'run `edgezoo doctor` to check the converter environments',
    });
    this.stderrTail = stderrTail;
  }
}

export class WorkerTimeoutError extends EdgezooError {
  constructor(env: EnvName, op: string, ms: number) {
    super('WORKER_TIMEOUT', `${op} in the ${env} worker took longer than ${ms} ms; the worker was killed`);
  }
}

export interface WorkerOptions {
  /** Default timeout of a request (default 30 min). */
  requestTimeoutMs?: number;
  /** Time allowed for the worker to start and say ready (default 60 s). */
  startTimeoutMs?: number;
  /** Restart the worker after a request when its RSS exceeds this (default 6144 MiB). */
  memoryBudgetMb?: number;
  /** Every line the worker (and the tools in it) write to stderr. */
  onLog?: (line: string) => void;
  /** How many stderr lines to keep for error messages (default 60). */
  keepLines?: number;
}

export interface RequestOptions {
  timeoutMs?: number;
}

interface Pending {
  id: number;
  child: ChildProcessWithoutNullStreams;
  op: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer?: NodeJS.Timeout;
}

interface Ready {
  event: 'ready';
  pid: number;
  python: string;
  ops: string[];
  /** ops_*.py modules that failed to import (their ops are missing): module -> error. */
  brokenModules?: Record<string, string>;
}

export interface WorkerStats {
  starts: number;
  requests: number;
  /** Restarts for exceeding the memory budget. */
  memoryRestarts: number;
}

export class PythonWorker {
  readonly env: EnvDef;
  readonly stats: WorkerStats = { starts: 0, requests: 0, memoryRestarts: 0 };
  private readonly opts: Required<Omit<WorkerOptions, 'onLog'>> & Pick<WorkerOptions, 'onLog'>;
  private child?: ChildProcessWithoutNullStreams;
  private ready?: Promise<Ready>;
  private info?: Ready;
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

  /** The worker's process id, while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Ops the running worker offers (after start). */
  get ops(): string[] {
    return this.info?.ops ?? [];
  }

  /** Starts the worker (if not running) and waits until it is ready. */
  async start(): Promise<Ready> {
    if (!this.ready) this.ready = this.spawn();
    return this.ready;
  }

  /** Sends one request; requests are served one after the other. */
  request<T = unknown>(op: string, args: Record<string, unknown> = {}, opts: RequestOptions = {}): Promise<T> {
    const run = this.queue.then(() => this.send<T>(op, args, opts));
    this.queue = run.catch(() => {});
    return run;
  }

  /** Asks the worker to exit (kills it after a grace period). */
  async stop(graceMs = 3000): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      child.stdin.write(`${JSON.stringify({ id: 0, op: '__exit__' })}\n`);
      child.stdin.end();
    } catch {
      // already gone
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
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

  private async send<T>(op: string, args: Record<string, unknown>, opts: RequestOptions): Promise<T> {
    await this.start();
    const child = this.child;
    if (!child) throw new WorkerCrashedError(`the ${this.env.name} worker is not running`, this.tail());
    const id = this.nextId++;
    this.stats.requests++;
    const timeoutMs = opts.timeoutMs ?? this.opts.requestTimeoutMs;
    const result = await new Promise<unknown>((resolve, reject) => {
      const pending: Pending = { id, child, op, resolve, reject };
      pending.timer = setTimeout(() => {
        if (this.pending !== pending) return;
        this.pending = undefined;
        this.detach(child); // the next request starts a new worker at once
        child.kill('SIGKILL');
        reject(new WorkerTimeoutError(this.env.name, op, timeoutMs));
      }, timeoutMs);
      this.pending = pending;
      child.stdin.write(`${JSON.stringify({ id, op, args })}\n`);
    });
    await this.checkMemory();
    return result as T;
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

  private spawn(): Promise<Ready> {
    this.stats.starts++;
    this.stderrTail = [];
    const child = spawn(this.env.python, ['-u', WORKER_SCRIPT], {
      env: envProcessEnv(this.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdin.on('error', () => {}); // EPIPE when it died: reported through 'exit'
    createInterface({ input: child.stderr }).on('line', (line) => this.log(line));

    return new Promise<Ready>((resolve, reject) => {
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
        child.kill('SIGKILL');
      }, this.opts.startTimeoutMs);

      createInterface({ input: child.stdout }).on('line', (line) => {
        let msg: { event?: string; id?: number; ok?: boolean; result?: unknown; error?: PythonError } & Partial<Ready>;
        try {
          msg = JSON.parse(line);
        } catch {
          this.log(`[edgezoo] unexpected line on the ${this.env.name} worker's stdout: ${line}`);
          return;
        }
        if (msg.event === 'ready') {
          this.info = msg as Ready;
          if (!settled) {
            settled = true;
            clearTimeout(startTimer);
            resolve(msg as Ready);
          }
          return;
        }
        const pending = this.pending;
        if (!pending || pending.child !== child || msg.id !== pending.id) return; // a late answer to a timed-out request
        this.pending = undefined;
        clearTimeout(pending.timer);
        if (msg.ok) pending.resolve(msg.result);
        else
          pending.reject(
            new WorkerOpError(
              this.env.name,
              pending.op,
              msg.error ?? { type: 'Error', message: 'no error given', traceback: '' },
            ),
          );
      });

      child.on('error', (error) => {
        this.log(`[edgezoo] cannot start ${this.env.python}: ${error.message}`);
      });
      child.on('exit', (code, signal) => {
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
            new WorkerCrashedError(`the ${this.env.name} worker died during ${pending.op} (${how})`, this.tail()),
          );
        }
      });
    });
  }

  private detach(child: ChildProcessWithoutNullStreams): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.ready = undefined;
    this.info = undefined;
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

/** One worker per env, started on first use. Call `stopAll()` at the end of a build. */
export class WorkerPool {
  private readonly workers = new Map<EnvName, PythonWorker>();
  constructor(private readonly options: WorkerOptions = {}) {}

  get(env: EnvName): PythonWorker {
    let w = this.workers.get(env);
    if (!w) {
      w = new PythonWorker(env, this.options);
      this.workers.set(env, w);
    }
    return w;
  }

  request<T = unknown>(
    env: EnvName,
    op: string,
    args: Record<string, unknown> = {},
    opts: RequestOptions = {},
  ): Promise<T> {
    return this.get(env).request<T>(op, args, opts);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => w.stop()));
  }
}

/**
 * Runs one op in a fresh Python process (`worker.py --once`): pays the imports every time; for
 * benchmarks against the warm worker and for one-off calls.
 */
export async function runOnce<T = unknown>(
  env: EnvName | EnvDef,
  op: string,
  args: Record<string, unknown> = {},
  opts: { timeoutMs?: number; onLog?: (line: string) => void } = {},
): Promise<T> {
  const def = typeof env === 'string' ? envDef(env) : env;
  const r = await runCommand([def.python, '-u', WORKER_SCRIPT, '--once', op, JSON.stringify(args)], {
    env: envProcessEnv(def),
    check: false,
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.onLog
      ? { onLine: (line: string, stream: 'stdout' | 'stderr') => stream === 'stderr' && opts.onLog?.(line) }
      : {}),
  });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let msg: { ok?: boolean; result?: unknown; error?: PythonError };
  try {
    msg = JSON.parse(last);
  } catch {
    throw new WorkerCrashedError(
      `${op} in a fresh ${def.name} process ended with ${r.signal ?? `exit code ${r.code}`}`,
      r.stderr.split('\n').slice(-40).join('\n'),
    );
  }
  if (!msg.ok)
    throw new WorkerOpError(def.name, op, msg.error ?? { type: 'Error', message: 'no error given', traceback: '' });
  return msg.result as T;
}
