/**
 * Starting processes: the one module of edgezoo that does (the Python worker aside, which keeps
 * a child alive for many requests). A command runs without a shell, as the leader of its own
 * process group, so cancelling, a timeout, or edgezoo's own exit reaches everything it started
 * (pip's builds, onnx2tf's onnxsim). A failed command becomes CommandFailedError carrying the
 * command, its exit code and the tail of its stderr.
 *
 * Why not zx, the design's first choice: zx runs every command through a shell, keeps whole
 * outputs in memory, and kills a tree by running `ps`; this needs none of the three.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EdgezooError, StepCancelledError } from '../errors.js';

/** Options of `runCommand`. */
export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Aborting kills the process group (SIGTERM, then SIGKILL after `killGraceMs`) and rejects with StepCancelledError. */
  signal?: AbortSignal;
  /** Kills the process group after this long; the result (or error) says it timed out. */
  timeoutMs?: number;
  /** After SIGTERM, how long the group gets before SIGKILL. Default 3000. */
  killGraceMs?: number;
  /** Every non-blank line the command writes (a progress bar's `\r` ends a line too). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Reject with CommandFailedError unless the exit code is 0 (default true). */
  check?: boolean;
  /** Characters kept of each stream, the tail. Default 256 KiB. */
  maxOutput?: number;
}

/** How a command ended. */
export interface CommandResult {
  command: string[];
  /** The exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The tail of stdout (`maxOutput` characters). */
  stdout: string;
  /** The tail of stderr (`maxOutput` characters). */
  stderr: string;
  ms: number;
  timedOut: boolean;
}

/** A command exited non-zero, was killed, or timed out. */
export class CommandFailedError extends EdgezooError {
  readonly command: string[];
  readonly commandExitCode: number | null;
  readonly commandSignal: NodeJS.Signals | null;
  /** The last lines of stderr (of stdout when stderr was empty). */
  readonly stderrTail: string;

  constructor(result: CommandResult, options: { hint?: string; tailLines?: number } = {}) {
    const tail = tailLines(result.stderr || result.stdout, options.tailLines ?? 40);
    const how = result.timedOut
      ? `timed out after ${result.ms} ms`
      : result.signal
        ? `was killed by ${result.signal}`
        : `exited with code ${result.code}`;
    super(
      'COMMAND_FAILED',
      `${formatCommand(result.command)} ${how}${tail ? `:\n${indent(tail)}` : ''}`,
      options.hint === undefined ? {} : { hint: options.hint },
    );
    this.command = result.command;
    this.commandExitCode = result.code;
    this.commandSignal = result.signal;
    this.stderrTail = tail;
  }
}

/** The executable is not there (not installed, or not on PATH). */
export class CommandNotFoundError extends EdgezooError {
  readonly executable: string;
  constructor(executable: string, cause: unknown) {
    super('COMMAND_NOT_FOUND', `cannot run ${executable}: it is not installed or not on PATH`, { cause });
    this.executable = executable;
  }
}

/**
 * Runs `command` (no shell) to its end. Resolves with its exit code and output tails; rejects
 * with CommandFailedError on a non-zero exit (unless `check: false`), CommandNotFoundError when
 * the executable is missing, StepCancelledError when `signal` aborts.
 */
export function runCommand(command: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const [file, ...args] = command;
  if (!file) throw new Error('runCommand: empty command');
  const display = formatCommand(command);
  if (options.signal?.aborted) return Promise.reject(new StepCancelledError(display, { cause: options.signal.reason }));
  installExitHook();
  const max = options.maxOutput ?? 256 * 1024;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        // Its own process group, so one kill reaches the grandchildren too.
        detached: true,
      });
    } catch (error) {
      reject(new CommandNotFoundError(file, error));
      return;
    }
    const pid = child.pid;
    if (pid !== undefined) liveGroups.add(pid);
    const output = { stdout: '', stderr: '' };
    const partial = { stdout: '', stderr: '' };
    const collect = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output[stream] = (output[stream] + text).slice(-max);
      if (!options.onLine) return;
      const lines = (partial[stream] + text).split(/\r?\n|\r/);
      partial[stream] = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) options.onLine(line, stream);
    };
    child.stdout?.on('data', collect('stdout'));
    child.stderr?.on('data', collect('stderr'));

    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timeoutTimer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            if (pid !== undefined) killGroup(pid, 'SIGKILL');
          }, options.timeoutMs);
    const onAbort = () => {
      if (pid === undefined) return;
      killGroup(pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), options.killGraceMs ?? 3000);
      killTimer.unref();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const settle = () => {
      options.signal?.removeEventListener('abort', onAbort);
      if (timeoutTimer) clearTimeout(timeoutTimer);
      if (killTimer) clearTimeout(killTimer);
      if (pid !== undefined) liveGroups.delete(pid);
    };

    child.once('error', (error: NodeJS.ErrnoException) => {
      settle();
      if (error.code === 'ENOENT') reject(new CommandNotFoundError(file, error));
      else reject(new EdgezooError('COMMAND_FAILED', `cannot run ${display}: ${error.message}`, { cause: error }));
    });
    child.once('exit', () => {
      // The leader is gone; nothing it started may linger in the group (and hold our pipes open).
      if (pid !== undefined) killGroup(pid, 'SIGKILL');
    });
    child.once('close', (code, signal) => {
      settle();
      if (options.onLine)
        for (const stream of ['stdout', 'stderr'] as const)
          if (partial[stream].trim()) options.onLine(partial[stream], stream);
      const result: CommandResult = {
        command: [...command],
        code,
        signal,
        ...output,
        ms: Date.now() - started,
        timedOut,
      };
      if (options.signal?.aborted) reject(new StepCancelledError(display, { cause: options.signal.reason }));
      else if ((options.check ?? true) && (code !== 0 || timedOut)) reject(new CommandFailedError(result));
      else resolve(result);
    });
  });
}

/** The last `n` lines of `text`, trailing blank space dropped. */
export function tailLines(text: string, n: number): string {
  const lines = text.replace(/\s+$/, '').split('\n');
  return lines.slice(-n).join('\n');
}

/** A command as a person would type it into a POSIX shell. */
export function formatCommand(command: readonly string[]): string {
  return command.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}

/** Process groups of children alive now, killed when this process exits. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers run synchronously even on process.exit() (e.g. a second Ctrl-C), so no
  // child outlives us then. A SIGKILL of this process cannot be caught: its children are
  // orphaned, and their temporary folders are left for `edgezoo cache gc`.
  process.on('exit', () => {
    for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}
