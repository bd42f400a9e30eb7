/**
 * Helpers of the end-to-end pipeline tests (not a test file): a throw-away project with the
 * tiny CNN trained into it by test/fixtures/tiny-cnn/train.py, recipes written as YAML, and
 * the real CLI run in it.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envDef } from '../../src/toolchain/envs.js';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(repo, 'src', 'cli', 'edgezoo.mjs');
const fixture = path.join(repo, 'test', 'fixtures', 'tiny-cnn');
/** The torch env's Python, wherever EDGEZOO_ENVS_DIR puts the envs. */
export const torchPython = envDef('torch').python;

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command and collects its output. */
export function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The real CLI in `root`. */
export function runCli(root: string, args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return run(process.execPath, [cli, ...args], { cwd: root, env });
}

/** The real CLI in `root` with the step runners exported by `runnersModule` (see test/support). */
export function runCliWithRunners(
  root: string,
  runnersModule: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<CliRun> {
  return run(
    process.execPath,
    [path.join(repo, 'test', 'support', 'edgezoo-with-runners.mjs'), runnersModule, ...args],
    {
      cwd: root,
      env,
    },
  );
}

export async function sha256Of(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

/**
 * A project with `models/tiny-cnn/{model.py, weights.pt, calib/, val/}` (seed 0). Returns the
 * root and the weights' sha256.
 */
export async function makeTinyCnnProject(prefix: string): Promise<{ root: string; weightsSha256: string }> {
  const root = await mkdtemp(path.join(os.tmpdir(), prefix));
  await mkdir(path.join(root, 'recipes'));
  const models = path.join(root, 'models', 'tiny-cnn');
  await mkdir(models, { recursive: true });
  await copyFile(path.join(fixture, 'model.py'), path.join(models, 'model.py'));
  const trained = await run(torchPython, [path.join(fixture, 'train.py'), models, '--seed', '0'], { cwd: fixture });
  if (trained.code !== 0) throw new Error(`train.py failed (${trained.code}):\n${trained.stderr}`);
  return { root, weightsSha256: await sha256Of(path.join(models, 'weights.pt')) };
}

/** Recipe YAML of a tiny-cnn variant named `name` with the given targets block and extra lines. */
export function tinyCnnRecipe(name: string, weightsSha256: string, targets: string, extra = ''): string {
  return `${[
    `name: ${name}`,
    'version: 1.0.0',
    'license: Apache-2.0',
    `description: The tiny CNN fixture (${name}).`,
    'task: image-classification',
    'source:',
    '  pytorch:',
    '    factory: models/tiny-cnn/model.py:build',
    `    weights: { path: models/tiny-cnn/weights.pt, sha256: ${weightsSha256} }`,
    'inputs:',
    '  - { name: input, shape: [1, 3, 32, 32], layout: NCHW, range: [0, 1] }',
    'outputs:',
    '  - { name: logits, classifier: true }',
    'calibration: { samples: models/tiny-cnn/calib/*.npy, count: 32 }',
    'validation: { samples: models/tiny-cnn/val/*.npy, count: 40, topk: 2 }',
    'opset: 18',
    'targets:',
    targets,
    extra,
  ].join('\n')}\n`;
}

export async function writeRecipe(root: string, name: string, yaml: string): Promise<void> {
  await writeFile(path.join(root, 'recipes', `${name}.yaml`), yaml);
}

/** Parsed JSON of a file. */
export async function readJson<T = any>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}
