import os from 'node:os';
import { EdgezooError } from '../errors.js';
import {
  CALIBRATED_PRECISIONS,
  type FileSource,
  type Precision,
  type Recipe,
  type TargetFormat,
} from '../recipe/types.js';
import { fingerprintStep } from './fingerprint.js';
import type {
  BuildPlan,
  Fingerprint,
  InputDigests,
  JsonValue,
  PlannedStep,
  ResourceClass,
  SkippedTarget,
  StepKind,
  ToolchainInfo,
} from './types.js';

/**
 * Tool names steps call, keyed as in the toolchain's version record (pip distribution names,
 * plus `edgezoo` itself and `onnxruntime-node`). One place, so the toolchain can match them.
 */
export const TOOLS = {
  edgezoo: 'edgezoo',
  simplifier: 'onnxslim',
  torch: 'torch',
  tf2onnx: 'tf2onnx',
  onnxruntime: 'onnxruntime',
  onnxruntimeNode: 'onnxruntime-node',
  onnx2tf: 'onnx2tf',
  litertTorch: 'litert-torch',
  litert: 'ai-edge-litert',
  openvino: 'openvino',
} as const;

/** Memory estimates (MiB) of steps that load TensorFlow or PyTorch; measured peaks rounded up. */
const HEAVY_MEMORY_MIB = { tensorflow: 4096, torch: 3072, openvino: 2048 } as const;

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

/** The digest keys of every local file a recipe's steps read (see `InputDigests`). */
export function localInputsOf(recipe: Recipe): Array<{ key: string; kind: 'file' | 'glob' }> {
  const inputs: Array<{ key: string; kind: 'file' | 'glob' }> = [];
  if (recipe.source.kind === 'pytorch' && recipe.source.factory.isFile)
    inputs.push({ key: recipe.source.factory.module, kind: 'file' });
  if (recipe.replacements?.kind === 'path') inputs.push({ key: recipe.replacements.path, kind: 'file' });
  if (recipe.calibration) inputs.push({ key: recipe.calibration.samples, kind: 'glob' });
  if (recipe.validation.samples) inputs.push({ key: recipe.validation.samples, kind: 'glob' });
  if (recipe.licenseFile) inputs.push({ key: recipe.licenseFile, kind: 'file' });
  if (recipe.labels?.kind === 'path') inputs.push({ key: recipe.labels.path, kind: 'file' });
  return inputs;
}

interface StepDraft {
  id: string;
  kind: StepKind;
  target?: { format: TargetFormat; precision: Precision };
  params: Record<string, unknown>;
  deps: string[];
  inputFiles: string[];
  resource: ResourceClass;
  memoryMiB?: number;
  tools: string[];
  runsAfterFailedDeps?: boolean;
  exportTo?: string;
}

const FORMAT_ORDER: readonly TargetFormat[] = ['onnx', 'tflite', 'openvino'];

/**
 * Plans the build of `recipes`: per recipe a DAG fetch -> prepare -> convert[format,
 * precision] -> validate -> benchmark -> package, with a fingerprint per step. Pure: it reads
 * no file; local inputs come in as `inputDigests` (see `computeInputDigests`).
 * Throws `PlanError` for a recipe asking for a road that does not exist.
 */
export function planBuild(recipes: readonly Recipe[], toolchain: ToolchainInfo, inputDigests: InputDigests): BuildPlan {
  const steps: PlannedStep[] = [];
  const skipped: SkippedTarget[] = [];
  const byId = new Map<string, PlannedStep>();
  const missingTools = new Set<string>();
  const canonicalMemo = new WeakMap<object, string>();

  for (const recipe of [...recipes].sort((a, b) => a.name.localeCompare(b.name))) {
    for (const draft of draftRecipeSteps(recipe)) {
      if (byId.has(draft.id))
        throw new PlanError(recipe.name, `two recipes plan the step "${draft.id}"`, 'model names must be unique');
      const depFingerprints = draft.deps.map((dep) => {
        const planned = byId.get(dep);
        if (!planned) throw new Error(`step ${draft.id} depends on ${dep}, planned later or never (planner bug)`);
        return planned.fingerprint;
      });
      // Params share objects with the recipe (no deep copy: planning 200 recipes stays fast);
      // recipes are plain JSON data and nobody mutates a plan.
      const params = draft.params as { [key: string]: JsonValue };
      const { fingerprint, missingTools: missing } = fingerprintStep(
        { kind: draft.kind, params, depFingerprints, inputFiles: draft.inputFiles, tools: draft.tools },
        toolchain,
        inputDigests,
        canonicalMemo,
      );
      for (const tool of missing) missingTools.add(tool);
      const step: PlannedStep = {
        id: draft.id,
        kind: draft.kind,
        model: recipe.name,
        params,
        deps: draft.deps,
        inputFiles: draft.inputFiles,
        resource: draft.resource,
        memoryMiB: draft.memoryMiB ?? 0,
        tools: draft.tools,
        runsAfterFailedDeps: draft.runsAfterFailedDeps ?? false,
        fingerprint: fingerprint as Fingerprint,
      };
      if (draft.target) step.target = draft.target;
      if (draft.exportTo) step.exportTo = draft.exportTo;
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

/** The steps of one recipe, dependencies first. */
function draftRecipeSteps(recipe: Recipe): StepDraft[] {
  const model = recipe.name;
  const drafts: StepDraft[] = [];
  const source = recipe.source;
  const sourceModelCode = source.kind === 'pytorch' && source.factory.isFile ? [source.factory.module] : [];
  // A factory imported from a package of the torch environment: that package's version matters.
  const factoryPackage =
    source.kind === 'pytorch' && !source.factory.isFile ? [distributionName(source.factory.module)] : [];

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

  const wanted = wantedTargets(recipe);
  const needsOnnx = wanted.some(({ format }) => format !== 'tflite' || recipe.converters.tflite === 'onnx2tf');
  if (
    wanted.some(({ format }) => format === 'tflite') &&
    recipe.converters.tflite === 'litert-torch' &&
    source.kind !== 'pytorch'
  ) {
    throw new PlanError(
      model,
      `converters.tflite is litert-torch, which needs a pytorch source (this one is ${source.kind})`,
      'use converters: { tflite: onnx2tf }',
    );
  }

  const prepareId = `${model}/prepare`;
  if (needsOnnx) {
    const sourceTools =
      source.kind === 'pytorch' ? [TOOLS.torch, ...factoryPackage] : source.kind === 'tflite' ? [TOOLS.tf2onnx] : [];
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
      },
      deps: sourceDeps,
      inputFiles: [...sourceModelCode, ...(recipe.replacements?.kind === 'path' ? [recipe.replacements.path] : [])],
      resource: source.kind === 'onnx' ? 'convert' : 'heavy',
      memoryMiB:
        source.kind === 'pytorch' ? HEAVY_MEMORY_MIB.torch : source.kind === 'tflite' ? HEAVY_MEMORY_MIB.tensorflow : 0,
      tools: [TOOLS.edgezoo, ...sourceTools, TOOLS.simplifier],
    });
  }

  const artifactSteps: Array<{
    format: TargetFormat;
    precision: Precision;
    convert: string;
    validate: string;
    benchmark: string;
  }> = [];
  for (const { format, precision } of wanted) {
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
    const road = convertRoad(recipe, format, precision);
    const convertId = `${model}/convert/${suffix}`;
    drafts.push({
      id: convertId,
      kind: 'convert',
      target: { format, precision },
      params: {
        model,
        format,
        precision,
        converter: road.converter,
        from: road.from,
        inputs: recipe.inputs,
        outputs: recipe.outputs,
        opset: recipe.opset,
        // Written into the artifact's metadata, so part of what the step makes.
        provenance: provenanceParams(recipe),
        // Only calibrated conversions read preprocessing and samples: keep them out of the
        // others' keys so editing the calibration set does not rebuild fp32 artifacts.
        ...(calibration ? { calibration, preprocess: recipe.preprocess } : {}),
        ...(road.from === 'pytorch' ? { source: sourceParams(recipe) } : {}),
      },
      deps: road.from === 'pytorch' ? sourceDeps : [prepareId],
      inputFiles: [...(road.from === 'pytorch' ? sourceModelCode : []), ...(calibration ? [calibration.samples] : [])],
      resource: road.memoryMiB > 0 ? 'heavy' : 'convert',
      memoryMiB: road.memoryMiB,
      tools: [TOOLS.edgezoo, ...road.tools, ...(road.from === 'pytorch' ? factoryPackage : [])],
    });

    const validateId = `${model}/validate/${suffix}`;
    drafts.push({
      id: validateId,
      kind: 'validate',
      target: { format, precision },
      params: {
        model,
        format,
        precision,
        reference: sourceParams(recipe),
        inputs: recipe.inputs,
        outputs: recipe.outputs,
        preprocess: recipe.preprocess,
        validation: recipe.validation,
        // Only the overrides that apply to this artifact, so tightening int8 does not rerun fp32.
        tolerance: { byPrecision: recipe.tolerances[precision] ?? null, byTarget: recipe.tolerances[suffix] ?? null },
      },
      // The reference is the source model run by its own runtime: it reads the fetched file.
      deps: [convertId, ...sourceDeps],
      inputFiles: [...sourceModelCode, ...(recipe.validation.samples ? [recipe.validation.samples] : [])],
      resource: 'convert',
      tools: [TOOLS.edgezoo, runtimeOf(format), ...referenceTools(recipe, factoryPackage)],
    });

    const benchmarkId = `${model}/benchmark/${suffix}`;
    drafts.push({
      id: benchmarkId,
      kind: 'benchmark',
      target: { format, precision },
      params: { model, format, precision, inputs: recipe.inputs },
      // After validate: an artifact that does not validate is not worth timing.
      deps: [convertId, validateId],
      inputFiles: [],
      resource: 'convert',
      tools: [TOOLS.edgezoo, runtimeOf(format)],
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
    deps: [...sourceDeps, ...artifactSteps.flatMap((a) => [a.convert, a.validate, a.benchmark])],
    inputFiles: [
      ...(recipe.licenseFile ? [recipe.licenseFile] : []),
      ...(recipe.labels?.kind === 'path' ? [recipe.labels.path] : []),
    ],
    resource: 'light',
    tools: [TOOLS.edgezoo],
    runsAfterFailedDeps: true,
    exportTo: `zoo/${model}/${recipe.version}`,
  });
  return drafts;
}

/** Targets the recipe asks for and does not skip, in a stable order. */
function wantedTargets(recipe: Recipe): Array<{ format: TargetFormat; precision: Precision }> {
  const wanted: Array<{ format: TargetFormat; precision: Precision }> = [];
  for (const format of FORMAT_ORDER) {
    for (const precision of [...new Set(recipe.targets[format] ?? [])]) {
      if (recipe.skip[`${format}/${precision}`] === undefined) wanted.push({ format, precision });
    }
  }
  return wanted;
}

interface ConvertRoad {
  converter: string;
  from: 'onnx' | 'pytorch';
  tools: string[];
  memoryMiB: number;
}

function convertRoad(recipe: Recipe, format: TargetFormat, precision: Precision): ConvertRoad {
  switch (format) {
    case 'onnx':
      // fp32 is the prepared model itself (with metadata); the rest go through onnxruntime's tools.
      return precision === 'fp32'
        ? { converter: 'edgezoo', from: 'onnx', tools: [], memoryMiB: 0 }
        : { converter: 'onnxruntime', from: 'onnx', tools: [TOOLS.onnxruntime], memoryMiB: 0 };
    case 'tflite':
      return recipe.converters.tflite === 'litert-torch'
        ? {
            converter: 'litert-torch',
            from: 'pytorch',
            tools: [TOOLS.litertTorch, TOOLS.torch],
            memoryMiB: HEAVY_MEMORY_MIB.torch,
          }
        : { converter: 'onnx2tf', from: 'onnx', tools: [TOOLS.onnx2tf], memoryMiB: HEAVY_MEMORY_MIB.tensorflow };
    case 'openvino':
      return { converter: 'ovc', from: 'onnx', tools: [TOOLS.openvino], memoryMiB: HEAVY_MEMORY_MIB.openvino };
  }
}

function runtimeOf(format: TargetFormat): string {
  return format === 'onnx' ? TOOLS.onnxruntimeNode : format === 'tflite' ? TOOLS.litert : TOOLS.openvino;
}

function referenceTools(recipe: Recipe, factoryPackage: string[]): string[] {
  switch (recipe.source.kind) {
    case 'pytorch':
      return [TOOLS.torch, ...factoryPackage];
    case 'tflite':
      return [TOOLS.litert];
    case 'onnx':
      return [TOOLS.onnxruntimeNode];
  }
}

/** What converters write into every artifact's metadata besides the source identity. */
function provenanceParams(recipe: Recipe): Record<string, unknown> {
  return { version: recipe.version, license: recipe.license };
}

/** The source as steps see it: what identifies it, never where it lies on disk. */
function sourceParams(recipe: Recipe): Record<string, unknown> {
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

/** `facenet_pytorch.models.mtcnn` -> `facenet-pytorch`: the pip distribution a module most likely comes from. */
function distributionName(module: string): string {
  return (module.split('.')[0] ?? module).toLowerCase().replace(/_/g, '-');
}
