/**
 * The Python converter environments: where their requirement and lock files are, where their
 * venvs live, which tools each holds, and the digests/versions that go into cache fingerprints.
 *
 * Every env is a venv under `<toolRoot>/artifacts/envs/<name>/`, installed only from the
 * committed `src/toolchain/envs/<name>.lock` (exact `==` pins from `pip freeze --all`).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Catalogue } from '../catalogue/catalogue.js';
import { artifactPaths, toolRoot } from '../paths.js';

export const ENV_NAMES = ['tf', 'torch'] as const;
export type EnvName = (typeof ENV_NAMES)[number];

/** Where an env's files are. What it holds is the catalogue's (src/catalogue/envs.ts and its entries). */
export interface EnvDef {
  name: EnvName;
  /** Human-written top-level requirements (`setup --lock` input). */
  inFile: string;
  /** Exact pins; the only thing `setup` installs from. */
  lockFile: string;
  /** The venv folder. */
  dir: string;
  /** `<dir>/bin`: put first on PATH when running the env's tools. */
  binDir: string;
  /** `<dir>/bin/python`. */
  python: string;
  /** Written last by setup: `{ lockSha256, ... }`. */
  stampFile: string;
}

export const TOOLCHAIN_DIR = path.join(toolRoot, 'src', 'toolchain');
export const ENVS_SRC_DIR = path.join(TOOLCHAIN_DIR, 'envs');
export const WORKER_SCRIPT = path.join(TOOLCHAIN_DIR, 'worker.py');
export const PYTHON_OPS_DIR = path.join(TOOLCHAIN_DIR, 'python');

/** Root of the venvs; `EDGEZOO_ENVS_DIR` overrides it (tests, read-only installs). */
export function envsRoot(): string {
  return process.env.EDGEZOO_ENVS_DIR ? path.resolve(process.env.EDGEZOO_ENVS_DIR) : artifactPaths(toolRoot).envs;
}

export function isEnvName(name: string): name is EnvName {
  return (ENV_NAMES as readonly string[]).includes(name);
}

export function envDef(name: EnvName, root: string = envsRoot()): EnvDef {
  const dir = path.join(root, name);
  const binDir = path.join(dir, 'bin');
  return {
    name,
    inFile: path.join(ENVS_SRC_DIR, `${name}.in`),
    lockFile: path.join(ENVS_SRC_DIR, `${name}.lock`),
    dir,
    binDir,
    python: path.join(binDir, 'python'),
    stampFile: path.join(dir, '.edgezoo-stamp.json'),
  };
}

export function allEnvs(root: string = envsRoot()): EnvDef[] {
  return ENV_NAMES.map((name) => envDef(name, root));
}

/** PEP 503 normalised distribution name: `Tf_Keras` -> `tf-keras`. */
export function normalizeName(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[-_.]+/g, '-');
}

/** `name==version` lines of a lock file, keyed by normalised name; comments and blanks skipped. */
export function parseLock(text: string): Map<string, string> {
  const pins = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;]+)/.exec(line);
    if (!m) throw new Error(`not an exact pin: ${JSON.stringify(raw)}`);
    pins.set(normalizeName(m[1]!), m[2]!);
  }
  return pins;
}

/** The Python version recorded in a lock's header (`# python 3.11.7`), if any. */
export function lockPython(text: string): string | undefined {
  return /^#\s*python\s+(\d+\.\d+\.\d+)/m.exec(text)?.[1];
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 (hex) of the env's committed lock file: changes whenever any pin changes. */
export async function lockDigest(env: EnvName | EnvDef): Promise<string> {
  const def = typeof env === 'string' ? envDef(env) : env;
  return sha256(await readFile(def.lockFile));
}

export async function lockPins(env: EnvName | EnvDef): Promise<Map<string, string>> {
  const def = typeof env === 'string' ? envDef(env) : env;
  return parseLock(await readFile(def.lockFile, 'utf8'));
}

/**
 * Versions of the converter tools, read from the committed lock files (no Python started):
 * keys `<env>/<distribution>` (e.g. `tf/onnx2tf`, `torch/ai-edge-litert`) for every distribution
 * the catalogue names in that env, plus `<env>/python` and `<env>/lock` (the lock's sha256).
 * Meant for build cache fingerprints and artifact provenance.
 */
export async function toolVersions(
  envs: readonly EnvName[] = ENV_NAMES,
  catalogue?: Catalogue,
): Promise<Record<string, string>> {
  // Imported here: the catalogue's backends run their tools through this module's workers.
  const known = catalogue ?? (await import('../catalogue/builtin.js')).BUILTIN_CATALOGUE;
  const out: Record<string, string> = {};
  for (const name of envs) {
    const def = envDef(name);
    const text = await readFile(def.lockFile, 'utf8');
    const pins = parseLock(text);
    out[`${name}/lock`] = sha256(text);
    const py = lockPython(text);
    if (py) out[`${name}/python`] = py;
    for (const pkg of known.distributions(name)) {
      const v = pins.get(normalizeName(pkg));
      if (v !== undefined) out[`${name}/${pkg}`] = v;
    }
  }
  return out;
}

/**
 * Environment variables for processes running in `def`: its bin first on PATH (onnx2tf starts
 * `onnxsim` by name), no user site-packages, unbuffered output, CPU only, hubs offline.
 */
export function envProcessEnv(def: EnvDef, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...base,
    PATH: def.binDir + path.delimiter + (base.PATH ?? ''),
    VIRTUAL_ENV: def.dir,
    PYTHONNOUSERSITE: '1',
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONPATH: '',
    PJRT_DEVICE: base.PJRT_DEVICE ?? 'CPU',
    CUDA_VISIBLE_DEVICES: base.CUDA_VISIBLE_DEVICES ?? '',
    HF_HUB_OFFLINE: base.HF_HUB_OFFLINE ?? '1',
    TF_CPP_MIN_LOG_LEVEL: base.TF_CPP_MIN_LOG_LEVEL ?? '2',
  };
}
