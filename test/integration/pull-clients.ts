/**
 * Helpers of the pull-client tests (not a test file): the three clients (`edgezoo pull`,
 * `node pull.mjs`, `python3 pull.py`) run as a user would, and a Python with `cryptography` for
 * the signature-checking path of pull.py (the system Python and the converter environments lack
 * it, which is the other path).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const repo = path.resolve(import.meta.dirname, '..', '..');
export const edgezooCli = path.join(repo, 'src', 'cli', 'edgezoo.mjs');
const CRYPTOGRAPHY = 'cryptography==50.0.2';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command without blocking the event loop (the test process serves the zoo). */
export function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * A Python with `cryptography` from PyPI, in a small venv of its own under artifacts/ (made once
 * per pinned version, like the lint venv).
 */
export function pythonWithCryptography(): string {
  const venv = path.join(repo, 'artifacts', 'envs', 'pull-client-test');
  const python = path.join(venv, 'bin', 'python');
  const stamp = path.join(venv, '.pinned');
  if (existsSync(python) && existsSync(stamp) && readFileSync(stamp, 'utf8') === CRYPTOGRAPHY) return python;
  const system = process.env.EDGEZOO_PYTHON ?? 'python3';
  const made = spawnSync(system, ['-m', 'venv', '--clear', venv], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`could not create ${venv}: ${made.stderr}`);
  const pip = spawnSync(
    path.join(venv, 'bin', 'pip'),
    ['install', '--quiet', '--disable-pip-version-check', CRYPTOGRAPHY],
    {
      encoding: 'utf8',
    },
  );
  if (pip.status !== 0) throw new Error(`could not install ${CRYPTOGRAPHY} into ${venv}: ${pip.stderr}`);
  writeFileSync(stamp, CRYPTOGRAPHY);
  return python;
}

/**
 * A Python without `cryptography`: a bare venv (no system site-packages), as on a machine where
 * nobody installed it; checked, because some systems ship it.
 */
export function pythonWithoutCryptography(): string {
  const venv = path.join(repo, 'artifacts', 'envs', 'pull-client-bare');
  const python = path.join(venv, 'bin', 'python');
  if (!existsSync(python)) {
    const made = spawnSync(process.env.EDGEZOO_PYTHON ?? 'python3', ['-m', 'venv', '--clear', '--without-pip', venv], {
      encoding: 'utf8',
    });
    if (made.status !== 0) throw new Error(`could not create ${venv}: ${made.stderr}`);
  }
  const probe = spawnSync(python, [
    '-c',
    'import importlib.util,sys; sys.exit(importlib.util.find_spec("cryptography") is not None)',
  ]);
  if (probe.status !== 0) throw new Error(`${python} has cryptography; the test needs a Python without it`);
  return python;
}
