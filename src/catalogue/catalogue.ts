/**
 * A `Catalogue` holds the descriptors (formats, backends, envs) and answers every question the
 * rest of edgezoo asks about them: which precisions a format offers, which backend makes a
 * target, which tools key a step's cache and in which env they live, what doctor checks.
 * The built-in one is ./builtin.ts; tests build their own with `withEntries`.
 */
import { EdgezooError } from '../errors.js';
import type { EnvName } from '../toolchain/envs.js';
import { PRECISION_NAMES, type Precision } from './precisions.js';
import {
  CATALOGUE_NAME,
  type BackendSpec,
  type EnvSpec,
  type FormatSpec,
  type Probe,
  type PythonRequirement,
} from './types.js';

/** What a catalogue is made of. */
export interface CatalogueEntries {
  formats: readonly FormatSpec[];
  backends: readonly BackendSpec[];
  envs: readonly EnvSpec[];
}

/** The tool a PyTorch source's reference runs in (PyTorch sources have no FormatSpec). */
export const PYTORCH_REFERENCE = { runtime: 'pytorch', tool: 'torch', env: 'torch' } as const;

/** No backend of the catalogue does what a step asks (a planner/catalogue mismatch). */
export class NoBackendError extends EdgezooError {
  constructor(what: string, catalogue: Catalogue) {
    const known = catalogue.backends
      .map((b) => `${b.name} (${b.from} -> ${b.to}: ${b.precisions.join(', ')})`)
      .join('; ');
    super('NO_CONVERTER_BACKEND', `no converter backend for ${what}; known: ${known}`);
  }
}

/** The formats, converter backends and environments edgezoo knows; see the module comment. */
export class Catalogue {
  readonly formats: readonly FormatSpec[];
  readonly backends: readonly BackendSpec[];
  readonly envs: readonly EnvSpec[];

  /** Checks the entries fit together; a mistake is a programming error, so it throws plainly. */
  constructor(entries: CatalogueEntries) {
    this.formats = entries.formats;
    this.backends = entries.backends;
    this.envs = entries.envs;
    checkEntries(this);
  }

  /** This catalogue plus more entries (their names must be new). */
  withEntries(more: Partial<CatalogueEntries>): Catalogue {
    return new Catalogue({
      formats: [...this.formats, ...(more.formats ?? [])],
      backends: [...this.backends, ...(more.backends ?? [])],
      envs: [...this.envs, ...(more.envs ?? [])],
    });
  }

  /** Format names, in the order plans and tables list them. */
  formatNames(): string[] {
    return this.formats.map((f) => f.name);
  }

  format(name: string): FormatSpec | undefined {
    return this.formats.find((f) => f.name === name);
  }

  /** The format named `name`; a name the catalogue lacks is a caller bug (recipes are checked first). */
  requireFormat(name: string): FormatSpec {
    const format = this.format(name);
    if (!format) throw new Error(`no format "${name}" in the catalogue (known: ${this.formatNames().join(', ')})`);
    return format;
  }

  backend(name: string): BackendSpec | undefined {
    return this.backends.find((b) => b.name === name);
  }

  /** The backends that make artifacts of `format`, in catalogue order. */
  targetBackends(format: string): BackendSpec[] {
    return this.backends.filter((b) => b.stage === 'convert' && b.to === format);
  }

  /** The precisions some backend makes `format` in, in reading order. */
  precisionsOf(format: string): Precision[] {
    const offered = new Set(this.targetBackends(format).flatMap((b) => b.precisions));
    return PRECISION_NAMES.filter((p) => offered.has(p));
  }

  /** The backends a recipe may choose among for `format` (`converters.<format>`), or none when it has no choice. */
  converterChoices(format: string): BackendSpec[] {
    return this.format(format)?.defaultConverter === undefined ? [] : this.targetBackends(format);
  }

  /**
   * The backends that may make `format` at `precision` for a `sourceKind` source, in the order
   * the convert step tries them (the first is the route it starts with; the others are the next
   * strategies of its cascade). With `listed` (the recipe's `converters:` for the target), the
   * listed backends that make the precision, in the recipe's order; else the format's default
   * converter first, then every other backend of the format that reads this source (or the
   * prepared ONNX every source becomes) and makes the precision, in catalogue order (a format
   * that offers no choice: the first backend that makes it).
   */
  converterRoutes(format: string, precision: Precision, sourceKind: string, listed?: readonly string[]): BackendSpec[] {
    const makes = (b: BackendSpec) => b.precisions.includes(precision);
    const candidates = this.targetBackends(format);
    if (listed && listed.length > 0)
      return listed.flatMap((name) => candidates.find((b) => b.name === name && makes(b)) ?? []);
    const readable = candidates.filter((b) => makes(b) && (b.from === 'onnx' || b.from === sourceKind));
    // A format without a choice (no default converter) is made by the first backend that makes it.
    if (this.converterChoices(format).length === 0) return readable.slice(0, 1);
    const preferred = this.format(format)?.defaultConverter;
    return [...readable.filter((b) => b.name === preferred), ...readable.filter((b) => b.name !== preferred)];
  }

  /** The backend a convert step names, checked to make `precision`. */
  requireConverter(name: string, precision: Precision): BackendSpec {
    const backend = this.backends.find((b) => b.name === name && b.stage === 'convert');
    if (!backend?.precisions.includes(precision)) throw new NoBackendError(`converter "${name}" at ${precision}`, this);
    return backend;
  }

  /**
   * The backends a prepare step runs, in order: the source to ONNX (unless it is ONNX), then the
   * prepare backend.
   */
  prepareChain(sourceKind: string): BackendSpec[] {
    const prepare = this.backends.find((b) => b.stage === 'prepare');
    if (!prepare) throw new NoBackendError('preparing ONNX models', this);
    if (sourceKind === prepare.from) return [prepare];
    const importer = this.backends.find((b) => b.stage === 'import' && b.from === sourceKind && b.to === prepare.from);
    if (!importer) throw new NoBackendError(`importing a ${sourceKind} source`, this);
    return [importer, prepare];
  }

  /** The tool the reference of a `sourceKind` source runs in (its format's runtime; PyTorch's own). */
  referenceTool(sourceKind: string): string {
    if (sourceKind === 'pytorch') return PYTORCH_REFERENCE.tool;
    const format = this.format(sourceKind);
    if (!format) throw new Error(`no runtime for ${sourceKind} sources in the catalogue`);
    return format.runtime.tool;
  }

  /**
   * Every tool some step keys its cache with, and where its version comes from: the env whose
   * lock pins it, or null for an npm package of edgezoo itself (its package.json).
   */
  cacheKeyToolEnvs(): Map<string, EnvName | null> {
    const envs = new Map<string, EnvName | null>();
    const add = (tool: string, env: EnvName | null, owner: string) => {
      if (envs.has(tool) && envs.get(tool) !== env)
        throw new Error(`catalogue: ${owner} puts tool "${tool}" in env ${env}, another entry in ${envs.get(tool)}`);
      envs.set(tool, env);
    };
    for (const backend of this.backends)
      for (const tool of backend.cacheKeyTools) add(tool, backend.env, `backend ${backend.name}`);
    for (const format of this.formats) add(format.runtime.tool, format.runtime.env, `format ${format.name}`);
    add(PYTORCH_REFERENCE.tool, PYTORCH_REFERENCE.env, 'the PyTorch reference');
    return envs;
  }

  /**
   * What the envs need, merged: one entry per env and distribution, with every probe any
   * catalogue entry declares for it (probes with the same label once). Env order, then first mention.
   */
  requirements(env?: EnvName): PythonRequirement[] {
    const all: PythonRequirement[] = [
      ...this.backends.flatMap((b) => b.requires),
      ...this.formats.flatMap((f) => f.runtime.requires),
      ...this.envs.flatMap((e) => e.requires),
    ];
    const merged = new Map<string, { env: EnvName; distribution: string; probes: Probe[] }>();
    for (const name of this.envs.map((e) => e.name)) {
      if (env !== undefined && name !== env) continue;
      for (const requirement of all.filter((r) => r.env === name)) {
        const key = `${requirement.env}/${requirement.distribution}`;
        const entry = merged.get(key) ?? { env: requirement.env, distribution: requirement.distribution, probes: [] };
        for (const probe of requirement.probes)
          if (!entry.probes.some((p) => probeLabel(p, entry.distribution) === probeLabel(probe, entry.distribution)))
            entry.probes.push(probe);
        merged.set(key, entry);
      }
    }
    return [...merged.values()];
  }

  /** The pip distributions of `env` whose versions matter (for `versions`, doctor and fingerprints). */
  distributions(env: EnvName): string[] {
    return this.requirements(env).map((r) => r.distribution);
  }
}

/** The name a probe's check has in doctor's report. */
export function probeLabel(probe: Probe, distribution: string): string {
  if (probe.label !== undefined) return probe.label;
  if ('import' in probe) return distribution;
  return probe.cli[0] === '-m' ? (probe.cli[1] ?? distribution) : (probe.cli[0] ?? distribution);
}

function checkEntries(catalogue: Catalogue): void {
  const unique = (kind: string, names: string[]) => {
    for (const [i, name] of names.entries()) {
      if (!CATALOGUE_NAME.test(name)) throw new Error(`catalogue: ${kind} name "${name}" is not kebab-case`);
      if (names.indexOf(name) !== i) throw new Error(`catalogue: two ${kind}s named "${name}"`);
    }
  };
  unique(
    'format',
    catalogue.formats.map((f) => f.name),
  );
  unique(
    'backend',
    catalogue.backends.map((b) => b.name),
  );
  const envNames = catalogue.envs.map((e) => e.name);
  const envKnown = (env: EnvName | null, owner: string) => {
    if (env !== null && !envNames.includes(env)) throw new Error(`catalogue: ${owner} runs in unknown env "${env}"`);
  };
  for (const backend of catalogue.backends) {
    const owner = `backend ${backend.name}`;
    envKnown(backend.env, owner);
    if (backend.stage === 'convert' && !catalogue.format(backend.to))
      throw new Error(`catalogue: ${owner} makes unknown format "${backend.to}"`);
    if (backend.precisions.length === 0) throw new Error(`catalogue: ${owner} offers no precision`);
    unique(
      `strategy of ${owner}`,
      backend.strategies.map((s) => s.name),
    );
    for (const requirement of backend.requires) envKnown(requirement.env, owner);
  }
  for (const format of catalogue.formats) {
    const owner = `format ${format.name}`;
    envKnown(format.runtime.env, owner);
    const offered = catalogue.precisionsOf(format.name);
    if (offered.length === 0) throw new Error(`catalogue: no backend makes ${owner}`);
    for (const precision of format.defaultPrecisions)
      if (!offered.includes(precision))
        throw new Error(`catalogue: ${owner} defaults to ${precision}, which no backend makes`);
    if (
      format.defaultConverter !== undefined &&
      !catalogue.targetBackends(format.name).some((b) => b.name === format.defaultConverter)
    )
      throw new Error(`catalogue: ${owner} defaults to converter "${format.defaultConverter}", which does not make it`);
  }
  catalogue.cacheKeyToolEnvs();
}
