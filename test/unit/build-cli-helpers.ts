/** Helpers for tests that run the real CLI with the stand-in runners of build-fixtures.ts. */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const entry = path.join(repo, 'test', 'support', 'edgezoo-with-runners.mjs');
const standins = path.join(repo, 'test', 'unit', 'build-fixtures.ts');

const temporaryDirs: string[] = [];

/** Deletes every project `makeProject` made (call from `after`). */
export async function removeProjects(): Promise<void> {
  for (const dir of temporaryDirs.splice(0)) await rm(dir, { recursive: true, force: true });
}

/** A throw-away project (recipes come from the stand-in module). */
export async function makeProject(): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-cli-'));
  temporaryDirs.push(root);
  await mkdir(path.join(root, 'recipes'));
  return root;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts the real CLI with the stand-in runners and recipes of build-fixtures.ts. */
export function startCli(root: string, args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [entry, standins, ...args], {
    cwd: root,
    env: { ...process.env, EDGEZOO_STANDIN_MODELS: '3', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<CliRun>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done, stdout: () => stdout };
}

export function runCli(root: string, args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return startCli(root, args, env).done;
}
