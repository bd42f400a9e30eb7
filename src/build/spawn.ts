import { spawn, type ChildProcess } from 'node:child_process';
import { EdgezooError, StepCancelledError } from '../errors.js';

export { StepCancelledError };

/** A child process exited with a non-zero code (or was killed by a signal it was not sent by us). */
export class ChildProcessError extends EdgezooError {
  readonly command: string;
  readonly childExitCode: number | null;
  readonly stderrTail: string;

  constructor(command: string, childExitCode: number | null, childSignal: string | null, stderrTail: string) {
    super(
      'CHILD_FAILED',
      `${command} ${childExitCode === null ? `was killed by ${childSignal}` : `exited with code ${childExitCode}`}${stderrTail ? `:\n${stderrTail}` : ''}`,
    );
    this.command = command;
    this.childExitCode = childExitCode;
    this.stderrTail = stderrTail;
  }
}

/** Options of `spawnTied`. */
export interface SpawnTiedOptions {
  signal: AbortSignal;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Receives every stdout and stderr line (the step's log). */
  log?: (line: string) => void;
  /** After SIGTERM, how long the process group gets before SIGKILL. */
  killGraceMs?: number;
  /** How many trailing stderr lines a failure carries. */
  stderrTailLines?: number;
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

/**
 * Runs a command as the leader of a new process group tied to `signal`: when the signal
 * aborts, the whole group (the command and anything it started, e.g. Python workers) gets
 * SIGTERM, then SIGKILL after `killGraceMs`. Resolves with the output tails on exit code 0;
 * rejects with `ChildProcessError` (command, exit code, stderr tail) otherwise, or with
 * `StepCancelledError` when aborted. Runners call this instead of spawning directly.
 */
export function spawnTied(
  command: string,
  args: readonly string[],
  options: SpawnTiedOptions,
): Promise<{ stdoutTail: string; stderrTail: string }> {
  const display = [command, ...args].join(' ');
  if (options.signal.aborted) return Promise.reject(new StepCancelledError(display));
  installExitHook();
  const tailLines = options.stderrTailLines ?? 20;
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(command, args, {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        // Its own process group, so one kill reaches the grandchildren too.
        detached: true,
      });
    } catch (error) {
      reject(new ChildProcessError(display, null, null, (error as Error).message));
      return;
    }
    const pid = child.pid;
    if (pid !== undefined) liveGroups.add(pid);
    const stdoutTail: string[] = [];
    const stderrTail: string[] = [];
    const collect = (stream: NodeJS.ReadableStream | null, tail: string[]) => {
      if (!stream) return;
      let pending = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        pending += chunk;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          options.log?.(line);
          tail.push(line);
          if (tail.length > tailLines) tail.shift();
        }
      });
      stream.on('end', () => {
        if (pending) {
          options.log?.(pending);
          tail.push(pending);
          if (tail.length > tailLines) tail.shift();
        }
      });
    };
    collect(child.stdout, stdoutTail);
    collect(child.stderr, stderrTail);

    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      if (pid === undefined) return;
      killGroup(pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), options.killGraceMs ?? 3000);
      killTimer.unref();
    };
    options.signal.addEventListener('abort', onAbort, { once: true });

    child.once('error', (error) => {
      options.signal.removeEventListener('abort', onAbort);
      if (pid !== undefined) liveGroups.delete(pid);
      reject(new ChildProcessError(display, null, null, error.message));
    });
    child.once('exit', () => {
      // The leader is gone; nothing it started may linger in the group (and hold our pipes open).
      if (pid !== undefined) killGroup(pid, 'SIGKILL');
    });
    child.once('close', (code, childSignal) => {
      options.signal.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      if (pid !== undefined) liveGroups.delete(pid);
      if (options.signal.aborted) reject(new StepCancelledError(display));
      else if (code === 0) resolve({ stdoutTail: stdoutTail.join('\n'), stderrTail: stderrTail.join('\n') });
      else reject(new ChildProcessError(display, code, childSignal, stderrTail.join('\n')));
    });
  });
}
