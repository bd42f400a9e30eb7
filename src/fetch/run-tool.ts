import { spawn } from 'node:child_process';

/** How a finished tool run ended. */
export interface ToolRun {
  exitCode: number | null;
  stdout: string;
  /** The last few KiB of stderr: enough to explain a failure, bounded for huge logs. */
  stderrTail: string;
  /** The executable could not be started at all (not installed). */
  notFound: boolean;
}

const STDERR_TAIL = 4096;
const STDOUT_MAX = 1024 * 1024;

/**
 * Runs a registry client (pip, npm) without a shell, so names and versions cannot be interpreted
 * as shell syntax. Fetching a package is the one place outside toolchain/ that starts a process;
 * it is kept to this function so it can move there unchanged.
 */
export function runTool(
  command: string,
  args: readonly string[],
  options: { cwd: string; signal?: AbortSignal; timeoutMs?: number; env?: NodeJS.ProcessEnv },
): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 10 * 60_000,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout.length < STDOUT_MAX) stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_TAIL);
    });
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (options.signal?.aborted) reject(options.signal.reason);
      else if (error.code === 'ENOENT') resolve({ exitCode: null, stdout, stderrTail: stderr, notFound: true });
      else reject(error);
    });
    child.once('close', (exitCode) => {
      if (options.signal?.aborted) reject(options.signal.reason);
      else resolve({ exitCode, stdout, stderrTail: stderr, notFound: false });
    });
  });
}
