/**
 * `edgezoo doctor`: is every converter tool installed, of the locked version, and does it run?
 * What to check comes from the catalogue: every requirement its backends, runtimes and envs
 * declare, each checked the way it declares (importing a module in its env's Python, with a
 * named smoke check, or running a command line). Returns data; the CLI prints it.
 */
import path from 'node:path';
import pLimit from 'p-limit';
import { BUILTIN_CATALOGUE } from '../catalogue/builtin.js';
import { probeLabel, type Catalogue } from '../catalogue/catalogue.js';
import type { SmokeCheck } from '../catalogue/types.js';
import {
  allEnvs,
  envProcessEnv,
  lockPins,
  normalizeName,
  PYTHON_OPS_DIR,
  sha256,
  type EnvDef,
  type EnvName,
} from './envs.js';
import { runCommand, tailLines } from './process.js';
import { openvinoConsentFile, openvinoTelemetryOff, staleReason } from './setup.js';
import { readFile } from 'node:fs/promises';

export interface DoctorCheck {
  env: EnvName;
  tool: string;
  ok: boolean;
  /** Installed version (distribution metadata or the interpreter's own). */
  version?: string;
  /** Version pinned in the lock file. */
  locked?: string;
  /** What was run to check it. */
  how: string;
  /** Why it is not ok (error line, stderr tail). */
  detail?: string;
  hint?: string;
  ms: number;
}

export interface DoctorEnv {
  env: EnvName;
  dir: string;
  lockSha256?: string;
  /** Undefined when the venv matches its lock; else why `edgezoo setup` must run. */
  stale?: string;
}

export interface DoctorReport {
  ok: boolean;
  envs: DoctorEnv[];
  checks: DoctorCheck[];
  /** OpenVINO telemetry: `off` when its consent file says "0". */
  openvinoTelemetry: { off: boolean; consentFile: string };
  ms: number;
}

export interface DoctorOptions {
  envs?: readonly EnvName[];
  /** Timeout of each command (default 120 s). */
  timeoutMs?: number;
  /** Whose requirements to check; default the built-in catalogue. */
  catalogue?: Catalogue;
}

/** Import `module` (then run the named smoke check) in the env's Python; reported as `tool`. */
export interface ImportProbe {
  tool: string;
  dist: string;
  module: string;
  smoke?: SmokeCheck;
}

/** Run `argv` (an executable of the env's bin, or `-m module ...`); reported as `tool`. */
export interface CliProbe {
  tool: string;
  dist: string;
  argv: readonly string[];
}

const SETUP_HINT = 'run `edgezoo setup`';

/**
 * The checks doctor runs in `env`, from the catalogue's requirements (one per probe label). A
 * distribution declared with no probe is still listed, as an import-free version check.
 */
export function doctorProbes(catalogue: Catalogue, env: EnvName): { imports: ImportProbe[]; clis: CliProbe[] } {
  const imports: ImportProbe[] = [];
  const clis: CliProbe[] = [];
  for (const requirement of catalogue.requirements(env)) {
    for (const probe of requirement.probes) {
      const tool = probeLabel(probe, requirement.distribution);
      if ('import' in probe)
        imports.push({
          tool,
          dist: requirement.distribution,
          module: probe.import,
          ...(probe.smoke ? { smoke: probe.smoke } : {}),
        });
      else clis.push({ tool, dist: requirement.distribution, argv: probe.cli });
    }
  }
  return { imports, clis };
}

export async function runDoctor(opts: DoctorOptions = {}): Promise<DoctorReport> {
  const started = Date.now();
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const catalogue = opts.catalogue ?? BUILTIN_CATALOGUE;
  const defs = allEnvs().filter((d) => !opts.envs || opts.envs.includes(d.name));
  const envs: DoctorEnv[] = [];
  const tasks: Array<() => Promise<DoctorCheck[]>> = [];

  for (const def of defs) {
    let pins = new Map<string, string>();
    const envInfo: DoctorEnv = { env: def.name, dir: def.dir };
    try {
      const text = await readFile(def.lockFile, 'utf8');
      envInfo.lockSha256 = sha256(text);
      pins = await lockPins(def);
      const stale = await staleReason(def, envInfo.lockSha256);
      if (stale) envInfo.stale = stale;
    } catch (error) {
      envInfo.stale = `lock file unreadable: ${(error as Error).message}`;
    }
    envs.push(envInfo);
    const locked = (dist?: string) => (dist ? pins.get(normalizeName(dist)) : undefined);
    const probes = doctorProbes(catalogue, def.name);
    const all = [
      { tool: 'python', how: 'python -c "import sys"' },
      ...probes.imports.map((p) => ({ tool: p.tool, how: `import ${p.module}` })),
      ...probes.clis.map((p) => ({ tool: p.tool, how: p.argv.join(' ') })),
    ];
    if (envInfo.stale === 'not installed') {
      // Nothing to run: say so for every tool without starting anything.
      tasks.push(async () =>
        all.map((c) => ({
          env: def.name,
          tool: c.tool,
          ok: false,
          how: c.how,
          detail: `no ${def.name} env at ${def.dir}`,
          hint: SETUP_HINT,
          ms: 0,
        })),
      );
      continue;
    }
    tasks.push(() => probeImports(def, probes.imports, locked, timeoutMs));
    for (const cli of probes.clis) tasks.push(async () => [await probeCli(def, cli, locked(cli.dist), timeoutMs)]);
  }

  // Two at a time: the machine has two cores and most probes import TensorFlow or torch.
  const checks = (await pLimit(2).map(tasks, (task) => task())).flat();
  for (const check of checks) {
    const env = envs.find((e) => e.env === check.env);
    if (check.ok && env?.stale) {
      check.ok = false;
      check.detail = `the ${check.env} env does not match its lock (${env.stale})`;
      check.hint = SETUP_HINT;
    }
  }
  const telemetryOff = defs.some((d) => d.name === 'tf') ? await openvinoTelemetryOff() : true;
  if (!telemetryOff) {
    checks.push({
      env: 'tf',
      tool: 'openvino-telemetry',
      ok: false,
      how: `read ${openvinoConsentFile()}`,
      detail: 'OpenVINO telemetry is on (no consent file saying "0")',
      hint: SETUP_HINT,
      ms: 0,
    });
  }
  return {
    ok: checks.every((c) => c.ok),
    envs,
    checks,
    openvinoTelemetry: { off: telemetryOff, consentFile: openvinoConsentFile() },
    ms: Date.now() - started,
  };
}

async function probeImports(
  def: EnvDef,
  probes: ImportProbe[],
  locked: (dist?: string) => string | undefined,
  timeoutMs: number,
): Promise<DoctorCheck[]> {
  const started = Date.now();
  const spec: Array<{ id: string; module?: string; dist?: string; smoke?: SmokeCheck }> = [
    { id: 'python', module: 'sys' },
    ...probes.map((p) => ({ id: p.tool, module: p.module, dist: p.dist, ...(p.smoke ? { smoke: p.smoke } : {}) })),
  ];
  const versionCmd = 'import sys; assert sys.version_info[:2] >= (3, 10); print("%d.%d.%d" % sys.version_info[:3])';
  const base = { env: def.name };
  try {
    const version = (
      await runCommand([def.python, '-c', versionCmd], { env: envProcessEnv(def), timeoutMs })
    ).stdout.trim();
    const r = await runCommand([def.python, path.join(PYTHON_OPS_DIR, 'probe.py'), JSON.stringify(spec)], {
      env: envProcessEnv(def),
      timeoutMs,
      check: false,
    });
    const lastLine = r.stdout.trim().split('\n').pop() ?? '';
    let parsed: Record<string, { ok: boolean; version: string | null; error: string | null; ms: number }>;
    try {
      parsed = JSON.parse(lastLine);
    } catch {
      const detail = `probe failed (exit ${r.code ?? r.signal}): ${tailLines(r.stderr, 8)}`;
      return [
        { ...base, tool: 'python', ok: true, version, how: 'python -c', ms: r.ms },
        ...probes.map((p) => ({
          ...base,
          tool: p.tool,
          ok: false,
          how: `import ${p.module}`,
          detail,
          hint: SETUP_HINT,
          ms: r.ms,
        })),
      ];
    }
    return spec.map((s) => {
      const got = parsed[s.id];
      const isPython = s.id === 'python';
      const check: DoctorCheck = {
        ...base,
        tool: s.id,
        ok: Boolean(got?.ok),
        how: isPython ? `${def.python} -c "import sys"` : `import ${s.module}${s.smoke ? ` + ${s.smoke}` : ''}`,
        ms: got?.ms ?? Date.now() - started,
      };
      const v = isPython ? version : (got?.version ?? undefined);
      if (v) check.version = v;
      const l = isPython ? undefined : locked(s.dist);
      if (l) check.locked = l;
      if (!check.ok) {
        check.detail = got?.error ?? 'not reported by the probe';
        check.hint = SETUP_HINT;
      } else if (l && v && !satisfiesLock(v, l)) {
        check.ok = false;
        check.detail = `installed ${v}, lock says ${l}`;
        check.hint = SETUP_HINT;
      }
      return check;
    });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return [
      {
        ...base,
        tool: 'python',
        ok: false,
        how: `${def.python} -c`,
        detail,
        hint: SETUP_HINT,
        ms: Date.now() - started,
      },
    ];
  }
}

async function probeCli(
  def: EnvDef,
  cli: CliProbe,
  locked: string | undefined,
  timeoutMs: number,
): Promise<DoctorCheck> {
  const argv =
    cli.argv[0] === '-m' ? [def.python, ...cli.argv] : [path.join(def.binDir, cli.argv[0]!), ...cli.argv.slice(1)];
  const check: DoctorCheck = { env: def.name, tool: cli.tool, ok: false, how: cli.argv.join(' '), ms: 0 };
  if (locked) check.locked = locked;
  try {
    const r = await runCommand(argv, { env: envProcessEnv(def), timeoutMs, check: false });
    check.ms = r.ms;
    check.ok = r.code === 0;
    if (!check.ok) {
      check.detail = `exit ${r.code ?? r.signal}: ${tailLines(r.stderr || r.stdout, 6)}`;
      check.hint = SETUP_HINT;
    }
    const v = await runCommand(
      [def.python, '-c', `import importlib.metadata as m; print(m.version(${JSON.stringify(cli.dist)}))`],
      { env: envProcessEnv(def), timeoutMs, check: false },
    );
    if (v.code === 0) check.version = v.stdout.trim();
    if (check.ok && locked && check.version && !satisfiesLock(check.version, locked)) {
      check.ok = false;
      check.detail = `installed ${check.version}, lock says ${locked}`;
      check.hint = SETUP_HINT;
    }
  } catch (error) {
    check.detail = error instanceof Error ? error.message : String(error);
    check.hint = SETUP_HINT;
  }
  return check;
}

/**
 * Whether an installed version is the locked one. A lock pins public versions: the CPU wheel of
 * torch, `2.13.0+cpu`, is what pip installs for `torch==2.13.0` (as PEP 440's == does, a local
 * label is ignored when the pin has none).
 */
export function satisfiesLock(installed: string, locked: string): boolean {
  return installed === locked || (!locked.includes('+') && installed.split('+')[0] === locked);
}
