/**
 * `edgezoo setup`: makes each Python converter env under artifacts/envs/<env> from its
 * committed lock file, and (`mode: 'lock'`) regenerates the lock files from the `.in` files.
 *
 * A stamp file holding the lock's sha256 is written last; a run whose locks have not changed and
 * whose venvs are intact only reads files and takes milliseconds. Library code: no printing,
 * progress goes through `onProgress`, failures are typed errors.
 */
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EdgezooError, firstLine } from '../errors.js';
import { acquireLock } from '../util/lock.js';
import { pathExists } from '../util/path-exists.js';
import { CommandFailedError, CommandNotFoundError, runCommand } from './process.js';
import {
  allEnvs,
  envDef,
  envProcessEnv,
  envsRoot,
  lockPython,
  parseLock,
  sha256,
  type EnvDef,
  type EnvName,
} from './envs.js';

// ---------------------------------------------------------------------------------------------
// Setup

export type SetupPhase =
  | 'wait'
  | 'check'
  | 'unchanged'
  | 'venv'
  | 'install'
  | 'pip-check'
  | 'telemetry'
  | 'freeze'
  | 'done'
  | 'output';

export interface SetupProgress {
  env: EnvName;
  phase: SetupPhase;
  /** One line for people. `phase: 'output'` carries a line of pip's own output. */
  message: string;
}

export interface SetupOptions {
  /** Which envs (default all). */
  envs?: readonly EnvName[];
  /** `install` (default): venvs from the locks. `lock`: regenerate the locks from the .in files. */
  mode?: 'install' | 'lock';
  /** Re-create the venvs even when their stamps match. */
  force?: boolean;
  /** The base interpreter for `-m venv` (default `$EDGEZOO_PYTHON` or `python3`). */
  python?: string;
  /** Where the venvs go (default `artifacts/envs` of the edgezoo install). */
  root?: string;
  onProgress?: (event: SetupProgress) => void;
}

export interface SetupEnvResult {
  env: EnvName;
  /** `unchanged`: stamp matched; `created`: no venv before; `recreated`: lock changed or venv broken/forced; `locked`: lock file rewritten. */
  action: 'unchanged' | 'created' | 'recreated' | 'locked';
  /** Why a venv was (re)made, e.g. `lock changed`. */
  reason?: string;
  lockSha256: string;
  dir: string;
  ms: number;
}

export interface SetupResult {
  envs: SetupEnvResult[];
  ms: number;
}

export interface Stamp {
  lockSha256: string;
  python: string;
  createdAt: string;
  installMs: number;
}

const PIP_ENV = { PIP_NO_INPUT: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' };
/** pip install runs this many times before setup gives up (registry hiccups); waits grow by the delay. */
const PIP_INSTALL_ATTEMPTS = 3;
const PIP_RETRY_DELAY_MS = 5000;

let inProcess: Promise<unknown> = Promise.resolve();

/** Creates or refreshes the converter venvs (or, in `lock` mode, rewrites the lock files). */
export function setupToolchain(opts: SetupOptions = {}): Promise<SetupResult> {
  // Calls within one process run one after the other; other processes wait on the lock file.
  const run = inProcess.then(() => setupLocked(opts));
  inProcess = run.catch(() => {});
  return run;
}

async function setupLocked(opts: SetupOptions): Promise<SetupResult> {
  const started = Date.now();
  const root = opts.root ?? envsRoot();
  const defs = (opts.envs ?? allEnvs(root).map((d) => d.name)).map((name) => envDef(name, root));
  const progress = opts.onProgress ?? (() => {});
  await mkdir(root, { recursive: true });
  const lock = await acquireLock(path.join(root, '.setup.lock'), {
    purpose: 'edgezoo setup',
    onWait: (message) => progress({ env: defs[0]?.name ?? 'tf', phase: 'wait', message }),
  });
  try {
    const results: SetupEnvResult[] = [];
    for (const def of defs) {
      results.push(opts.mode === 'lock' ? await lockEnv(def, opts, progress) : await installEnv(def, opts, progress));
    }
    return { envs: results, ms: Date.now() - started };
  } finally {
    await lock.release();
  }
}

/** Reads the stamp; returns why the venv needs (re)making, or undefined when it is current. */
export async function staleReason(def: EnvDef, lockSha256: string): Promise<string | undefined> {
  let stamp: Stamp;
  try {
    stamp = JSON.parse(await readFile(def.stampFile, 'utf8')) as Stamp;
  } catch {
    return (await pathExists(def.dir)) ? 'no valid stamp (an interrupted or foreign install)' : 'not installed';
  }
  if (stamp.lockSha256 !== lockSha256) return 'lock changed';
  try {
    // stat follows the venv's python symlink: a removed base interpreter shows up here
    await stat(def.python);
    await access(def.python, fsConstants.X_OK);
    await stat(path.join(def.dir, 'pyvenv.cfg'));
  } catch {
    return 'venv broken (python or pyvenv.cfg missing)';
  }
  return undefined;
}

async function installEnv(
  def: EnvDef,
  opts: SetupOptions,
  progress: (e: SetupProgress) => void,
): Promise<SetupEnvResult> {
  const started = Date.now();
  const lockText = await readLock(def);
  const digest = sha256(lockText);
  progress({
    env: def.name,
    phase: 'check',
    message: `checking ${def.name} env against ${path.basename(def.lockFile)}`,
  });
  const reason = opts.force ? 'forced' : await staleReason(def, digest);
  if (reason === undefined) {
    if (def.name === 'tf') await ensureOpenvinoTelemetryOff(def, progress);
    progress({ env: def.name, phase: 'unchanged', message: `${def.name}: up to date` });
    return { env: def.name, action: 'unchanged', lockSha256: digest, dir: def.dir, ms: Date.now() - started };
  }
  const existed = await pathExists(def.dir);
  const basePython = await checkBasePython(opts.python, lockPython(lockText));

  progress({ env: def.name, phase: 'venv', message: `${def.name}: ${reason}; creating venv in ${def.dir}` });
  await rm(def.dir, { recursive: true, force: true });
  await runCommand([basePython.path, '-m', 'venv', def.dir]);

  progress({
    env: def.name,
    phase: 'install',
    message: `${def.name}: pip install --no-deps -r ${path.basename(def.lockFile)}`,
  });
  const env = { ...envProcessEnv(def), ...PIP_ENV };
  const onLine = (line: string) => progress({ env: def.name, phase: 'output', message: line });
  // A registry hiccup (a truncated index page pip cannot parse, a reset connection) fails pip
  // outright; installing the same pins again resumes where it stopped.
  for (let attempt = 1; ; attempt++) {
    try {
      await runCommand([def.python, '-m', 'pip', 'install', '--no-deps', '-r', def.lockFile], { env, onLine });
      break;
    } catch (error) {
      if (attempt >= PIP_INSTALL_ATTEMPTS)
        rethrowWithHint('check the network to PyPI and the pip configuration (find-links for the torch CPU wheel)')(
          error,
        );
      progress({
        env: def.name,
        phase: 'install',
        message: `${def.name}: pip install failed (${firstLine(error).slice(0, 200)}); trying again (${attempt + 1} of ${PIP_INSTALL_ATTEMPTS})`,
      });
      await new Promise((resolve) => setTimeout(resolve, PIP_RETRY_DELAY_MS * attempt));
    }
  }
  progress({ env: def.name, phase: 'pip-check', message: `${def.name}: pip check` });
  await runCommand([def.python, '-m', 'pip', 'check'], { env }).catch(
    rethrowWithHint(`the lock is inconsistent: regenerate it with \`edgezoo setup --lock --env ${def.name}\``),
  );
  if (def.name === 'tf') await ensureOpenvinoTelemetryOff(def, progress);

  const stamp: Stamp = {
    lockSha256: digest,
    python: basePython.version,
    createdAt: new Date().toISOString(),
    installMs: Date.now() - started,
  };
  await writeFile(def.stampFile, `${JSON.stringify(stamp, null, 2)}\n`);
  progress({
    env: def.name,
    phase: 'done',
    message: `${def.name}: installed in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  });
  return {
    env: def.name,
    action: existed ? 'recreated' : 'created',
    reason,
    lockSha256: digest,
    dir: def.dir,
    ms: Date.now() - started,
  };
}

async function lockEnv(def: EnvDef, opts: SetupOptions, progress: (e: SetupProgress) => void): Promise<SetupEnvResult> {
  const started = Date.now();
  const basePython = await checkBasePython(opts.python, undefined);
  const scratch = path.join(path.dirname(def.dir), `.lock-${def.name}`);
  const sdef: EnvDef = {
    ...def,
    dir: scratch,
    binDir: path.join(scratch, 'bin'),
    python: path.join(scratch, 'bin', 'python'),
  };
  progress({ env: def.name, phase: 'venv', message: `${def.name}: scratch venv in ${scratch}` });
  await rm(scratch, { recursive: true, force: true });
  try {
    await runCommand([basePython.path, '-m', 'venv', scratch]);
    const env = { ...envProcessEnv(sdef), ...PIP_ENV };
    progress({ env: def.name, phase: 'install', message: `${def.name}: pip install -r ${path.basename(def.inFile)}` });
    const onLine = (line: string) => progress({ env: def.name, phase: 'output', message: line });
    await runCommand([sdef.python, '-m', 'pip', 'install', '-r', def.inFile], { env, onLine });
    progress({ env: def.name, phase: 'pip-check', message: `${def.name}: pip check` });
    await runCommand([sdef.python, '-m', 'pip', 'check'], { env });
    progress({ env: def.name, phase: 'freeze', message: `${def.name}: pip freeze --all` });
    const frozen = await runCommand([sdef.python, '-m', 'pip', 'freeze', '--all'], { env });
    const text = renderLock(def, basePython.version, frozen.stdout);
    await writeFile(def.lockFile, text);
    progress({ env: def.name, phase: 'done', message: `${def.name}: wrote ${def.lockFile}` });
    return { env: def.name, action: 'locked', lockSha256: sha256(text), dir: def.dir, ms: Date.now() - started };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The lock file text for `pip freeze --all` output: pip itself dropped, no URLs or paths. */
export function renderLock(def: EnvDef, pythonVersion: string, freeze: string): string {
  const pins = freeze
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && !/^pip==/i.test(l));
  const bad = pins.filter((l) => !/^[A-Za-z0-9][A-Za-z0-9._-]*==[^\s@]+$/.test(l));
  if (bad.length) {
    throw new EdgezooError(
      'TOOLCHAIN_LOCK_INVALID',
      `pip freeze gave lines that are not exact pins: ${bad.join(', ')}`,
    );
  }
  // A local version label (torch's `+cpu`) names a wheel only its maker's index serves; the lock
  // pins the public version, which that wheel satisfies (pip prefers it when it can see it).
  for (let i = 0; i < pins.length; i++) pins[i] = pins[i]!.replace(/^([^=]+==[^+\s]+)\+[A-Za-z0-9.]+$/, '$1');
  pins.sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
  parseLock(pins.join('\n')); // validates
  const header = [
    `# edgezoo lock for the "${def.name}" env: exact pins from \`pip freeze --all\` of a venv made`,
    `# from ${def.name}.in. Regenerate: edgezoo setup --lock --env ${def.name}`,
    `# Install: pip install --no-deps -r ${def.name}.lock && pip check  (edgezoo setup does this)`,
    `# python ${pythonVersion} (${os.platform()} ${os.arch()})`,
  ];
  return `${header.join('\n')}\n${pins.join('\n')}\n`;
}

async function readLock(def: EnvDef): Promise<string> {
  try {
    return await readFile(def.lockFile, 'utf8');
  } catch (error) {
    throw new EdgezooError('TOOLCHAIN_LOCK_MISSING', `no lock file for the ${def.name} env: ${def.lockFile}`, {
      cause: error,
      hint: `run \`edgezoo setup --lock --env ${def.name}\``,
    });
  }
}

async function checkBasePython(requested: string | undefined, wanted: string | undefined) {
  const py = requested ?? process.env.EDGEZOO_PYTHON ?? 'python3';
  const r = await runCommand([py, '-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])']).catch(
    (error: unknown) => {
      if (!(error instanceof CommandNotFoundError)) throw error;
      throw new EdgezooError('TOOLCHAIN_PYTHON_MISSING', error.message, {
        cause: error,
        hint: 'install Python 3.11, or point EDGEZOO_PYTHON at one',
      });
    },
  );
  const version = r.stdout.trim();
  if (wanted && wanted.split('.').slice(0, 2).join('.') !== version.split('.').slice(0, 2).join('.')) {
    throw new EdgezooError(
      'TOOLCHAIN_PYTHON_MISMATCH',
      `the locks were made with Python ${wanted} but ${py} is Python ${version}`,
      {
        hint: 'point EDGEZOO_PYTHON at a Python of the same minor version, or regenerate the locks (`edgezoo setup --lock`)',
      },
    );
  }
  return { path: py, version };
}

function rethrowWithHint(hint: string) {
  return (error: unknown): never => {
    if (error instanceof CommandFailedError) {
      throw new EdgezooError(error.code, error.message, { hint, cause: error });
    }
    throw error;
  };
}

/** Path of OpenVINO's telemetry consent file ("0" = opted out). There is no env variable for it. */
export function openvinoConsentFile(): string {
  return path.join(os.homedir(), 'intel', 'openvino_telemetry');
}

export async function openvinoTelemetryOff(): Promise<boolean> {
  try {
    return (await readFile(openvinoConsentFile(), 'utf8')).trim() === '0';
  } catch {
    return false;
  }
}

/** Runs OpenVINO's own `opt_in_out --opt_out` unless the consent file already says "0". */
export async function ensureOpenvinoTelemetryOff(def: EnvDef, progress: (e: SetupProgress) => void = () => {}) {
  if (await openvinoTelemetryOff()) return;
  progress({ env: def.name, phase: 'telemetry', message: 'turning OpenVINO telemetry off (opt_in_out --opt_out)' });
  await runCommand([path.join(def.binDir, 'opt_in_out'), '--opt_out'], { env: envProcessEnv(def) });
}
