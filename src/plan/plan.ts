import os from 'node:os';
import { BUILTIN_CATALOGUE } from '../catalogue/builtin.js';
import type { Catalogue } from '../catalogue/catalogue.js';
import { CALIBRATED_PRECISIONS, type Precision } from '../catalogue/precisions.js';
import { MEMORY_MIB, type BackendSpec } from '../catalogue/types.js';
import { EdgezooError } from '../errors.js';
import type { FileSource, Recipe, TargetFormat } from '../recipe/types.js';
import { fingerprintStep } from './fingerprint.js';
import { QUANT_SEARCH_REVISION } from '../quant/search.js';
import type { ConvertParams, PackagedTarget, ProvenanceParams, SourceParams, ValidateParams } from './params.js';
import type {
  BuildPlan,
  Fingerprint,
  InputDigests,
  PlannedStep,
  SkippedTarget,
  StepBase,
  ToolchainInfo,
} from './types.js';

/** edgezoo's own version keys every step (its runners write what the steps make). */
export const EDGEZOO_TOOL = 'edgezoo';

/** Raised when a recipe asks for a road the planner does not have; points at the recipe. */
export class PlanError extends EdgezooError {
  constructor(model: string, message: string, hint?: string) {
    super('PLAN_INVALID', `recipes/${model}.yaml: ${message}`, hint === undefined ? {} : { hint });
  }
}

/** `os-arch-node<major>` of this process, the platform part of fingerprints. */
export function currentPlatform(): string {
  return `${os.platform()}-${os.arch()}-node${process.versions.node.split('.')[0]}`;
}

/** How the planner shapes the build. */
export interface PlanOptions {
  /**
   * `grouped` (default): one converter run per model and group of precisions a backend emits
   * together (onnx2tf: fp32 + fp16 from one float run); `per-precision`: one run per artifact.
   */
  converterRuns?: ConverterRuns;
  /**
   * false: plan no benchmark steps (`edgezoo build --no-benchmark`): artifacts are converted,
   * validated and packaged, and the card shows no latency. Default true.
   */
  benchmark?: boolean;
}

export type ConverterRuns = 'grouped' | 'per-precision';
export const CONVERTER_RUNS: readonly ConverterRuns[] = ['grouped', 'per-precision'];

/** The digest keys of every local file a recipe's steps read (see `InputDigests`). */
export function localInputsOf(recipe: Recipe): Array<{ key: string; kind: 'file' | 'glob' }> {
  const inputs: Array<{ key: string; kind: 'file' | 'glob' }> = [];
  if (recipe.source.kind === 'pytorch') inputs.push({ key: recipe.source.factory.file, kind: 'file' });
  if (recipe.replacements?.kind === 'path') inputs.push({ key: recipe.replacements.path, kind: 'file' });
  if (recipe.calibration) inputs.push({ key: recipe.calibration.samples, kind: 'glob' });
  if (recipe.validation.samples) inputs.push({ key: recipe.validation.samples, kind: 'glob' });
  if (recipe.licenseFile) inputs.push({ key: recipe.licenseFile, kind: 'file' });
  if (recipe.labels?.kind === 'path') inputs.push({ key: recipe.labels.path, kind: 'file' });
  return inputs;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A step before it has a model and a fingerprint; memory and failed-deps behaviour default. */
type StepDraft = DistributiveOmit<PlannedStep, 'model' | 'fingerprint' | 'memoryMiB' | 'runsAfterFailedDeps'> &
  Partial<Pick<StepBase, 'memoryMiB' | 'runsAfterFailedDeps'>>;

/**
 * Plans the build of `recipes`: per recipe a DAG fetch -> prepare -> convert[format,
 * precision] -> validate (against the model's one reference step) -> benchmark -> package, with
 * a fingerprint per step. Pure: it reads
 * no file; local inputs come in as `inputDigests` (see `computeInputDigests`). Formats,
 * converters and their tools come from `catalogue`.
 * Throws `PlanError` for a recipe asking for a road that does not exist.
 */
export function planBuild(
  recipes: readonly Recipe[],
  toolchain: ToolchainInfo,
  inputDigests: InputDigests,
  catalogue: Catalogue = BUILTIN_CATALOGUE,
  options: PlanOptions = {},
): BuildPlan {
  const steps: PlannedStep[] = [];
  const skipped: SkippedTarget[] = [];
  const byId = new Map<string, PlannedStep>();
  const missingTools = new Set<string>();
  const canonicalMemo = new WeakMap<object, string>();

  for (const recipe of [...recipes].sort((a, b) => a.name.localeCompare(b.name))) {
    for (const draft of draftRecipeSteps(recipe, catalogue, options)) {
      if (byId.has(draft.id))
        throw new PlanError(recipe.name, `two recipes plan the step "${draft.id}"`, 'model names must be unique');
      // Optional deps (the reference a convert step's judge uses) are not part of the key: a new
      // runtime for the reference re-runs validations, never conversions (judge.json records which
      // reference outputs judged an artifact, so the validate step re-validates when they changed).
      const depFingerprints = draft.deps
        .filter((dep) => !draft.optionalDeps?.includes(dep))
        .map((dep) => {
          const planned = byId.get(dep);
          if (!planned) throw new Error(`step ${draft.id} depends on ${dep}, planned later or never (planner bug)`);
          return planned.fingerprint;
        });
      // Params share objects with the recipe (no deep copy: planning 200 recipes stays fast);
      // recipes are plain JSON data and nobody mutates a plan.
      const { fingerprint, missingTools: missing } = fingerprintStep(
        { kind: draft.kind, params: draft.params, depFingerprints, inputFiles: draft.inputFiles, tools: draft.tools },
        toolchain,
        inputDigests,
        canonicalMemo,
      );
      for (const tool of missing) missingTools.add(tool);
      const judgeFree = conversionParams(draft);
      const conversionKey = judgeFree
        ? fingerprintStep(
            { kind: draft.kind, params: judgeFree, depFingerprints, inputFiles: draft.inputFiles, tools: draft.tools },
            toolchain,
            inputDigests,
            canonicalMemo,
          ).fingerprint
        : undefined;
      const step: PlannedStep = {
        ...draft,
        ...(conversionKey ? { conversionKey: conversionKey as Fingerprint } : {}),
        model: recipe.name,
        memoryMiB: draft.memoryMiB ?? 0,
        runsAfterFailedDeps: draft.runsAfterFailedDeps ?? false,
        fingerprint: fingerprint as Fingerprint,
      };
      steps.push(step);
      byId.set(step.id, step);
    }
    for (const [target, reason] of Object.entries(recipe.skip).sort(([a], [b]) => a.localeCompare(b))) {
      skipped.push({ model: recipe.name, target, reason });
    }
  }
  return {
    steps,
    skipped,
    models: [...new Set(steps.map((step) => step.model))],
    missingToolVersions: [...missingTools].sort(),
  };
}

/**
 * The params of a converter step without what only judges its results (the judge's validation
 * params, allowed ops), for `conversionKey`; undefined for other steps and for convert steps
 * that take their artifact from a grouped run (they run no converter).
 */
function conversionParams(draft: StepDraft): object | undefined {
  if (draft.kind === 'convert' && !draft.params.run) {
    const { judge: _judge, allowOps: _allowOps, ...conversion } = draft.params;
    return conversion;
  }
  if (draft.kind === 'convert-run') {
    const byPrecision = Object.fromEntries(
      Object.entries(draft.params.byPrecision).map(([precision, entry]) => [
        precision,
        {
          ...(entry?.routes ? { routes: entry.routes } : {}),
          ...(entry?.routeRevisions ? { routeRevisions: entry.routeRevisions } : {}),
        },
      ]),
    );
    return { ...draft.params, byPrecision };
  }
  return undefined;
}

/** The steps of one recipe, dependencies first. */
function draftRecipeSteps(recipe: Recipe, catalogue: Catalogue, options: PlanOptions): StepDraft[] {
  const model = recipe.name;
  const drafts: StepDraft[] = [];
  const source = recipe.source;
  const sourceModelCode = source.kind === 'pytorch' ? [source.factory.file] : [];

  const fetchFile: FileSource | undefined = source.kind === 'pytorch' ? source.weights : source.file;
  const fetchId = `${model}/fetch`;
  if (fetchFile) {
    drafts.push({
      id: fetchId,
      kind: 'fetch',
      // No model name: the output is the file named by its sha256, so recipes sharing a
      // source share one cache entry.
      params: { file: fetchFile, role: source.kind === 'pytorch' ? 'weights' : 'source', sourceKind: source.kind },
      deps: [],
      inputFiles: [],
      resource: 'network',
      tools: [],
    });
  }
  const sourceDeps = fetchFile ? [fetchId] : [];

  const wanted = wantedTargets(recipe, catalogue);
  const routesOf = wanted.map(({ format, precision }) => targetRoutes(recipe, catalogue, format, precision));
  const needsOnnx = routesOf.some((routes) => routes.some((backend) => backend.from === 'onnx'));

  const prepareId = `${model}/prepare`;
  if (needsOnnx) {
    const chain = catalogue.prepareChain(source.kind);
    const memoryMiB = Math.max(...chain.map((backend) => MEMORY_MIB[backend.memory]));
    drafts.push({
      id: prepareId,
      kind: 'prepare',
      params: {
        model,
        source: sourceParams(recipe),
        inputs: recipe.inputs,
        outputs: recipe.outputs,
        opset: recipe.opset,
        replacements: recipe.replacements ?? null,
        // Written into the artifact's metadata, so part of what the step makes.
        provenance: provenanceParams(recipe),
        ...(recipe.dequantize ? { dequantize: true as const } : {}),
        ...chainRevisions(chain),
      },
      deps: sourceDeps,
      inputFiles: [...sourceModelCode, ...(recipe.replacements?.kind === 'path' ? [recipe.replacements.path] : [])],
      resource: memoryMiB > 0 ? 'heavy' : 'convert',
      memoryMiB,
      tools: [EDGEZOO_TOOL, ...chain.flatMap((backend) => backend.cacheKeyTools)],
    });
  }

  // The source's outputs on the validation samples, computed once for every artifact's validation.
  const referenceId = `${model}/reference`;
  if (wanted.length > 0) {
    drafts.push({
      id: referenceId,
      kind: 'reference',
      params: {
        model,
        source: sourceParams(recipe),
        inputs: recipe.inputs,
        outputs: recipe.outputs,
        preprocess: recipe.preprocess,
        samples: {
          samples: recipe.validation.samples,
          count: recipe.validation.count,
          seed: recipe.validation.seed,
          // A stream runs the reference on chained steps: other outputs than one step at a time.
          ...(recipe.validation.stream ? { stream: recipe.validation.stream } : {}),
        },
      },
      // The source model run by its own runtime: it reads the fetched file (and the model code).
      deps: sourceDeps,
      inputFiles: [...sourceModelCode, ...(recipe.validation.samples ? [recipe.validation.samples] : [])],
      resource: 'convert',
      tools: [EDGEZOO_TOOL, catalogue.referenceTool(source.kind)],
    });
  }

  // One converter run per group of targets a backend emits together (14.1): the targets of a
  // format made by a backend with `convertMany`, split into float and calibrated runs (and by pins).
  const groupOf = new Map<number, { id: string; precisions: Precision[]; first: number }>();
  if ((options.converterRuns ?? 'grouped') === 'grouped') {
    const groups = new Map<string, number[]>();
    wanted.forEach(({ format, precision }, index) => {
      const backend = routesOf[index]![0]!;
      if (!backend.convertMany) return;
      const calibrated = CALIBRATED_PRECISIONS.includes(precision);
      // Calibrated targets of a backend the quantization search drives are searched one by one (src/quant).
      if (calibrated && backend.quantSearch) return;
      const pinned = recipe.strategies?.[`${format}/${precision}`] ?? recipe.strategies?.[format] ?? null;
      // Members may differ in their fallback routes (tflite/fp32 of a PyTorch source also has
      // litert-torch): the run starts with the shared first route, each member keeps its own others.
      const key = `${format}\u0000${backend.name}\u0000${calibrated}\u0000${JSON.stringify(pinned)}`;
      groups.set(key, [...(groups.get(key) ?? []), index]);
    });
    const used = new Set<string>();
    for (const indexes of groups.values()) {
      if (indexes.length < 2) continue;
      const { format, precision } = wanted[indexes[0]!]!;
      const base = `${model}/convert-run/${format}/${CALIBRATED_PRECISIONS.includes(precision) ? 'calibrated' : 'float'}`;
      let id = base;
      for (let n = 2; used.has(id); n += 1) id = `${base}-${n}`;
      used.add(id);
      const group = { id, precisions: indexes.map((i) => wanted[i]!.precision), first: indexes[0]! };
      for (const i of indexes) groupOf.set(i, group);
    }
  }

  // What the converter steps of a set of targets read and need: the routes of all of them.
  const needsOf = (indexes: readonly number[]) => {
    const backends = [...new Set(indexes.flatMap((i) => routesOf[i]!))];
    // A route that reads the source itself (litert-torch) instead of the prepared ONNX.
    const readsSource = backends.some((backend) => backend.from !== 'onnx');
    const readsOnnx = backends.some((backend) => backend.from === 'onnx');
    return {
      readsSource,
      memoryMiB: Math.max(...backends.map((backend) => MEMORY_MIB[backend.memory])),
      // The reference: each attempt is judged against the source's outputs.
      deps: [...(readsSource ? sourceDeps : []), ...(readsOnnx ? [prepareId] : []), referenceId],
      tools: [EDGEZOO_TOOL, ...new Set(backends.flatMap((backend) => backend.cacheKeyTools))],
    };
  };
  const routeNames = (index: number) => {
    const routes = routesOf[index]!;
    if (routes.length < 2) return {};
    // The fallback routes' revisions key the step too (the first route's is `revision`).
    const revisions = Object.fromEntries(
      routes.slice(1).flatMap((backend) => (backend.revision ? [[backend.name, backend.revision]] : [])),
    );
    return {
      routes: routes.map((backend) => backend.name),
      ...(Object.keys(revisions).length > 0 ? { routeRevisions: revisions } : {}),
    };
  };

  const artifactSteps: PackagedTarget[] = [];
  for (const [index, { format, precision }] of wanted.entries()) {
    const backend = routesOf[index]![0]!;
    const suffix = `${format}/${precision}`;
    const calibrated = CALIBRATED_PRECISIONS.includes(precision);
    if (calibrated && !recipe.calibration) {
      throw new PlanError(
        model,
        `target ${suffix} needs calibration samples and the recipe has no calibration`,
        `add calibration: { samples: models/${model}/calib/*.npy, count: 64 } or list ${suffix} under skip`,
      );
    }
    const calibration = calibrated ? recipe.calibration : undefined;
    const validateParams = validateParamsOf(recipe, format, precision);
    const convertId = `${model}/convert/${suffix}`;
    const group = groupOf.get(index);
    const members = group ? [...groupOf.entries()].filter(([, g]) => g === group).map(([i]) => i) : [index];
    const needs = needsOf(members);
    const convertParams: ConvertParams = {
      model,
      format,
      precision,
      converter: backend.name,
      ...routeNames(index),
      from: backend.from,
      // Constant inputs (`value:`) are folded into the prepared graph: converters never see them.
      inputs: backend.from !== 'onnx' ? recipe.inputs : recipe.inputs.filter((input) => input.value === undefined),
      outputs: recipe.outputs,
      opset: recipe.opset,
      // Written into the artifact's metadata, so part of what the step makes.
      provenance: provenanceParams(recipe),
      // Only calibrated conversions read preprocessing and samples: keep them out of the
      // others' keys so editing the calibration set does not rebuild fp32 artifacts.
      ...(calibration ? { calibration, preprocess: recipe.preprocess } : {}),
      ...(calibration && recipe.quantization?.[suffix] ? { quantization: recipe.quantization[suffix] } : {}),
      // A changed ladder rebuilds searched targets (their failures are cached like successes).
      ...(calibration && backend.quantSearch ? { quantSearch: QUANT_SEARCH_REVISION } : {}),
      ...(needs.readsSource ? { source: sourceParams(recipe) } : {}),
      strategies: recipe.strategies?.[suffix] ?? recipe.strategies?.[format] ?? null,
      ...(backend.revision ? { revision: backend.revision } : {}),
      allowOps: [...new Set([...(recipe.allowOps?.[format] ?? []), ...(recipe.allowOps?.[suffix] ?? [])])].sort(),
      judge: validateParams,
    };
    const convertInputFiles = [
      ...(needs.readsSource ? sourceModelCode : []),
      ...(calibration ? [calibration.samples] : []),
    ];
    if (group && group.first === index) {
      const {
        precision: _first,
        allowOps: _allow,
        judge: _judge,
        routes: _routes,
        routeRevisions: _revisions,
        ...shared
      } = convertParams;
      drafts.push({
        id: group.id,
        kind: 'convert-run',
        params: {
          ...shared,
          precisions: group.precisions,
          byPrecision: Object.fromEntries(
            members.map((i) => {
              const member = wanted[i]!;
              const key = `${member.format}/${member.precision}`;
              return [
                member.precision,
                {
                  allowOps: [
                    ...new Set([...(recipe.allowOps?.[member.format] ?? []), ...(recipe.allowOps?.[key] ?? [])]),
                  ].sort(),
                  judge: validateParamsOf(recipe, member.format, member.precision),
                  ...routeNames(i),
                },
              ];
            }),
          ),
        },
        deps: needs.deps,
        optionalDeps: [referenceId],
        inputFiles: convertInputFiles,
        resource: needs.memoryMiB > 0 ? 'heavy' : 'convert',
        memoryMiB: needs.memoryMiB,
        tools: needs.tools,
      });
    }
    drafts.push(
      group
        ? {
            // Takes its precision's artifact from the group's one converter run.
            id: convertId,
            kind: 'convert',
            target: { format, precision },
            params: { ...convertParams, run: group.id },
            deps: [group.id],
            inputFiles: [],
            resource: 'light',
            tools: [EDGEZOO_TOOL],
          }
        : {
            id: convertId,
            kind: 'convert',
            target: { format, precision },
            params: convertParams,
            deps: needs.deps,
            optionalDeps: [referenceId],
            inputFiles: convertInputFiles,
            resource: needs.memoryMiB > 0 ? 'heavy' : 'convert',
            memoryMiB: needs.memoryMiB,
            tools: needs.tools,
          },
    );

    const runtimeTool = catalogue.requireFormat(format).runtime.tool;
    const validateId = `${model}/validate/${suffix}`;
    drafts.push({
      id: validateId,
      kind: 'validate',
      target: { format, precision },
      params: validateParams,
      deps: [convertId, referenceId],
      inputFiles: recipe.validation.samples ? [recipe.validation.samples] : [],
      resource: 'convert',
      tools: [EDGEZOO_TOOL, runtimeTool],
    });

    if (options.benchmark === false) {
      artifactSteps.push({ format, precision, convert: convertId, validate: validateId });
      continue;
    }
    const benchmarkId = `${model}/benchmark/${suffix}`;
    drafts.push({
      id: benchmarkId,
      kind: 'benchmark',
      target: { format, precision },
      params: { model, format, precision, inputs: recipe.inputs },
      // After validate: an artifact that does not validate is not worth timing.
      deps: [convertId, validateId],
      inputFiles: [],
      // Timed alone: a converter running beside it would make its latencies noise.
      resource: 'exclusive',
      tools: [EDGEZOO_TOOL, runtimeTool],
    });
    artifactSteps.push({ format, precision, convert: convertId, validate: validateId, benchmark: benchmarkId });
  }

  drafts.push({
    id: `${model}/package`,
    kind: 'package',
    params: {
      model,
      recipe,
      artifacts: artifactSteps,
      skipped: Object.entries(recipe.skip)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([target, reason]) => ({ target, reason })),
    },
    deps: [
      ...sourceDeps,
      ...artifactSteps.flatMap((a) => [a.convert, a.validate, ...(a.benchmark === undefined ? [] : [a.benchmark])]),
    ],
    inputFiles: [
      ...(recipe.licenseFile ? [recipe.licenseFile] : []),
      ...(recipe.labels?.kind === 'path' ? [recipe.labels.path] : []),
    ],
    resource: 'light',
    tools: [EDGEZOO_TOOL],
    runsAfterFailedDeps: true,
    exportTo: `zoo/${model}/${recipe.version}`,
  });
  return drafts;
}

/**
 * The converters a recipe may use for a target, in the order its convert step tries them (see
 * `Catalogue.converterRoutes`): the recipe's `converters:` for the target (its `format/precision`
 * key, else its format's), else the catalogue's default routes. Throws `PlanError` when a listed
 * converter cannot read the source, or none makes the precision.
 */
export function targetRoutes(
  recipe: Recipe,
  catalogue: Catalogue,
  format: TargetFormat,
  precision: Precision,
): [BackendSpec, ...BackendSpec[]] {
  const model = recipe.name;
  const key = recipe.converters[`${format}/${precision}`] ? `${format}/${precision}` : format;
  const listed = recipe.converters[key];
  for (const name of listed ?? []) {
    const backend = catalogue.converterChoices(format).find((b) => b.name === name);
    if (!backend) throw new PlanError(model, `converters.${key} names ${name}, which does not make ${format}`);
    if (backend.from !== 'onnx' && backend.from !== recipe.source.kind)
      throw new PlanError(
        model,
        `converters.${key} is ${backend.name}, which needs a ${backend.from} source (this one is ${recipe.source.kind})`,
        `use converters: { ${key}: ${catalogue.format(format)?.defaultConverter ?? 'another converter'} }`,
      );
  }
  const routes = catalogue.converterRoutes(format, precision, recipe.source.kind, listed);
  const [first, ...others] = routes;
  if (!first) {
    const named = (listed ?? []).map((name) => catalogue.backend(name)!);
    throw new PlanError(
      model,
      named.length > 0
        ? `converters.${key} is ${named.map((b) => b.name).join(', ')}, which makes ${format} in ${[...new Set(named.flatMap((b) => b.precisions))].join(', ')}, not ${precision}`
        : `no converter makes ${format}/${precision}`,
      `list ${format}/${precision} under skip with the reason`,
    );
  }
  return [first, ...others];
}

/** The validate step's params of a target (also what the convert step's judge validates with). */
function validateParamsOf(recipe: Recipe, format: TargetFormat, precision: Precision): ValidateParams {
  return {
    model: recipe.name,
    format,
    precision,
    inputs: recipe.inputs,
    outputs: recipe.outputs,
    preprocess: recipe.preprocess,
    validation: recipe.validation,
    // Only the overrides that apply to this artifact, so tightening int8 does not rerun fp32.
    tolerance: {
      byPrecision: recipe.tolerances[precision] ?? null,
      byTarget: recipe.tolerances[`${format}/${precision}`] ?? null,
    },
  };
}

/** Targets the recipe asks for and does not skip, in catalogue format order. */
function wantedTargets(recipe: Recipe, catalogue: Catalogue): Array<{ format: TargetFormat; precision: Precision }> {
  // A recipe checked against another catalogue (a plugin's format) must not lose targets silently.
  for (const format of Object.keys(recipe.targets))
    if (!catalogue.format(format))
      throw new PlanError(
        recipe.name,
        `target format "${format}" is not in the catalogue (${catalogue.formatNames().join(', ')})`,
      );
  const wanted: Array<{ format: TargetFormat; precision: Precision }> = [];
  for (const format of catalogue.formatNames()) {
    for (const precision of [...new Set(recipe.targets[format] ?? [])]) {
      if (recipe.skip[`${format}/${precision}`] === undefined) wanted.push({ format, precision });
    }
  }
  return wanted;
}

/** What converters write into every artifact's metadata besides the source identity. */
function provenanceParams(recipe: Recipe): ProvenanceParams {
  return { version: recipe.version, license: recipe.license };
}

/**
 * The prepare chain's revisions, as the prepare step's `revisions` param: a bumped import or
 * prepare backend rebuilds the prepared models it makes (absent when no backend has one, so the
 * keys of other prepare steps stay as they were).
 */
function chainRevisions(chain: readonly BackendSpec[]): { revisions?: Record<string, number> } {
  const revisions = Object.fromEntries(
    chain.flatMap((backend) => (backend.revision ? [[backend.name, backend.revision] as const] : [])),
  );
  return Object.keys(revisions).length > 0 ? { revisions } : {};
}

/** The source as steps see it: what identifies it, never where it lies on disk. */
function sourceParams(recipe: Recipe): SourceParams {
  const source = recipe.source;
  if (source.kind === 'pytorch') {
    return {
      kind: 'pytorch',
      factory: source.factory,
      kwargs: source.kwargs,
      weightsSha256: source.weights?.sha256 ?? null,
    };
  }
  return { kind: source.kind, sha256: source.file.sha256 };
}
