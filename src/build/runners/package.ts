/**
 * The package step: one model version of the zoo (artifact files under stable names,
 * manifest.json, the model card README.md, LICENSE.txt) from what the convert, validate and
 * benchmark steps left. Runs after failed dependencies too: an artifact that failed to convert
 * or to validate is listed under `failed` with why, never as a downloadable file.
 *
 * It writes into its own output folder; the executor exports that to
 * artifacts/zoo/<model>/<version>, and the build CLI rewrites artifacts/zoo/index.json once
 * every package step is exported (see src/cli/build.ts).
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EdgezooError } from '../../errors.js';
import { canonicalJson } from '../../plan/index.js';
import type { PlannedStepOf } from '../../plan/index.js';
import type { FileLocation, Precision, Recipe, TargetFormat } from '../../recipe/types.js';
import { defaultLayout } from '../../toolchain/backends/layouts.js';
import { identityPerm, permutedLayout, plainTensorName } from '../../validate/index.js';
import type { QuantizationParams, TensorInfo } from '../../validate/index.js';
import {
  NoArtifactsError,
  artifactQuantizationSchema,
  type ArtifactConversion,
  type ArtifactQuantization,
  writeModelVersion,
  type ArtifactInput,
  type BenchmarkFigures,
  type FailedTarget,
  type ProvenanceSource,
  type SkippedTarget,
  type TensorSignature,
  type ValidationFigures,
} from '../../zoo/index.js';
import {
  BENCHMARK_FILE,
  readStepFileIfAny,
  TENSORS_FILE,
  VALIDATION_FILE,
  type ArtifactRecord,
  type BenchmarkRecord,
  type TensorsRecord,
  type ValidationRecord,
} from '../step-files.js';
import { sha256File } from '../../util/hash.js';
import type { StepContext, StepResult } from '../types.js';
import { readArtifactRecord } from './validate.js';

/** The validator's verdict in the manifest's terms. */
export function validationFigures(validation: ValidationRecord): ValidationFigures {
  const metrics: ValidationFigures['metrics'] = {};
  for (const output of validation.outputs ?? []) {
    const m = output.metrics;
    if (!m) continue;
    metrics[output.name] = {
      maxAbs: m.maxAbsError,
      meanAbs: m.meanAbsError,
      rmse: m.rmse,
      cosine: m.cosine,
      ...(m.top1 !== undefined ? { top1: m.top1 } : {}),
      ...(m.topk !== undefined ? { topk: m.topk } : {}),
    };
  }
  return {
    status: validation.status,
    metrics,
    samples: validation.samples,
    ...(validation.synthetic ? { synthetic: true } : {}),
    ...(validation.reason ? { reason: validation.reason } : {}),
  };
}

/** The single-thread run of a benchmark (reproducible across machines with more cores). */
function benchmarkFigures(
  benchmark: BenchmarkRecord,
  runtimeVersion: string | undefined,
): BenchmarkFigures | undefined {
  const run = benchmark.runs.find((r) => r.threads === 1) ?? benchmark.runs[0];
  if (!run) return undefined;
  return {
    loadMs: run.loadMs,
    medianMs: run.medianMs,
    p90Ms: run.p90Ms,
    threads: run.threads,
    peakRssMb: benchmark.peakRssMb,
    ...(benchmark.host ? { host: benchmark.host } : {}),
    ...(benchmark.machine ? { machine: benchmark.machine } : {}),
    runtime: runtimeVersion ? `${benchmark.runtime} ${runtimeVersion}` : benchmark.runtime,
  };
}

/**
 * The artifact's I/O contract: its inputs and outputs as the runtime reports them, each with the
 * source tensor it is (recipe input / source output name), its layout and the permutation from
 * the source (recorded by the converter; for outputs, the one validation settled on), and its
 * quantisation. Listed in the source's order, so every precision of a model reads the same.
 */
function signatureOf(
  recipe: Recipe,
  record: ArtifactRecord,
  tensors: TensorsRecord | undefined,
  outputBindings: ReadonlyArray<{ source: string; name: string; perm: number[] }> = [],
): { inputs: TensorSignature[]; outputs: TensorSignature[] } {
  const signature = record.signature ?? {};
  const describe = (
    info: TensorInfo,
    source: { name: string; layout?: string } | undefined,
    perm: number[] | undefined,
    fallbackLayout: string | undefined,
    quantization: QuantizationParams | undefined,
  ): TensorSignature => {
    const q = info.quantization ?? quantization;
    const rank = info.dims.length;
    const bound = perm && perm.length === rank ? perm : source ? identityPerm(rank) : undefined;
    const layout = (bound && source?.layout && permutedLayout(source.layout, bound)) || fallbackLayout || undefined;
    return {
      name: info.name,
      ...(source ? { source: source.name } : {}),
      dtype: info.dtype,
      shape: info.dims,
      ...(layout ? { layout } : {}),
      ...(bound ? { perm: bound } : {}),
      ...(q
        ? {
            quantization: { scale: q.scale, zeroPoint: q.zeroPoint, ...(q.axis !== undefined ? { axis: q.axis } : {}) },
          }
        : {}),
    };
  };
  const runnerInputs = tensors?.inputs ?? [];
  const inputSourceOf = (info: TensorInfo, index: number) => {
    const renamed = Object.entries(signature.inputNames ?? {}).find(([, artifactName]) => artifactName === info.name);
    return (
      recipe.inputs.find((input) => input.name === (renamed?.[0] ?? info.name)) ??
      recipe.inputs.find((input) => plainTensorName(input.name) === plainTensorName(info.name)) ??
      (runnerInputs.length === recipe.inputs.length ? recipe.inputs[index] : undefined)
    );
  };
  const inputs = runnerInputs.map((info, index) => {
    const source = inputSourceOf(info, index);
    return {
      order: source ? recipe.inputs.indexOf(source) : recipe.inputs.length + index,
      tensor: describe(
        info,
        source,
        signature.inputPerms?.[info.name],
        signature.inputLayouts?.[info.name] ?? source?.layout,
        signature.inputQuantization?.[info.name],
      ),
    };
  });
  const mapping = { ...(signature.outputMapping ?? {}), ...(signature.outputNames ?? {}) };
  const bindings = new Map(outputBindings.map((binding) => [binding.name, binding]));
  const sourceOrder = signature.outputMapping ? Object.keys(signature.outputMapping) : [];
  const outputs = (tensors?.outputs ?? []).map((info, index) => {
    const sourceName =
      bindings.get(info.name)?.source ??
      Object.entries(mapping).find(([, artifactName]) => artifactName === info.name)?.[0] ??
      // No rename recorded: the converter kept the source's name (ONNX, OpenVINO).
      info.name;
    const recipeOutput = recipe.outputs.find((output) => output.name === sourceName);
    const sourceLayout = recipeOutput?.layout ?? defaultLayout(info.dims.length);
    const perm = bindings.get(info.name)?.perm ?? signature.outputPerms?.[info.name]?.[0];
    // The converter recorded its pairing in the source's output order.
    const sourceIndex = sourceName === undefined ? -1 : sourceOrder.indexOf(sourceName);
    return {
      order: sourceIndex >= 0 ? sourceIndex : sourceOrder.length + index,
      tensor: describe(
        info,
        sourceName ? { name: sourceName, layout: sourceLayout } : undefined,
        perm,
        signature.outputLayouts?.[info.name] ?? recipeOutput?.layout,
        signature.outputQuantization?.[info.name],
      ),
    };
  });
  const inSourceOrder = (list: Array<{ order: number; tensor: TensorSignature }>) =>
    [...list].sort((a, b) => a.order - b.order).map((entry) => entry.tensor);
  return { inputs: inSourceOrder(inputs), outputs: inSourceOrder(outputs) };
}

/** Where the source came from, as the recipe names it. */
function describeLocation(location: FileLocation): string {
  switch (location.kind) {
    case 'url':
      return location.url;
    case 'path':
      return location.path;
    case 'package':
      return `${location.registry}:${location.name}==${location.version}/${location.file}`;
  }
}

async function provenanceOf(recipe: Recipe, projectRoot: string): Promise<ProvenanceSource> {
  const source = recipe.source;
  if (source.kind !== 'pytorch')
    return { kind: source.kind, sha256: source.file.sha256, location: describeLocation(source.file.location) };
  if (source.weights) {
    return {
      kind: 'pytorch',
      sha256: source.weights.sha256,
      location: `${source.factory.file}:${source.factory.function} + ${describeLocation(source.weights.location)}`,
    };
  }
  // A factory that loads its own weights: the best identity is its code.
  const code = await readFile(path.join(projectRoot, source.factory.file));
  return {
    kind: 'pytorch',
    sha256: createHash('sha256').update(code).digest('hex'),
    location: `${source.factory.file}:${source.factory.function}`,
  };
}

function splitTarget(target: string): { format: TargetFormat; precision: Precision } {
  const [format, precision] = target.split('/') as [TargetFormat, Precision];
  return { format, precision };
}

/** The package step runner (see the module comment). */
export async function runPackageStep(step: PlannedStepOf<'package'>, ctx: StepContext): Promise<StepResult> {
  const params = step.params;
  const recipe = params.recipe;
  const artifacts: ArtifactInput[] = [];
  const failed: FailedTarget[] = [];
  const toolVersions: Record<string, string> = {};

  for (const target of params.artifacts) {
    const label = `${target.format}/${target.precision}`;
    const convert = ctx.inputs[target.convert];
    if (convert?.result.status !== 'ok') {
      const reason =
        ctx.failedDeps[target.convert] ?? (convert?.result.status === 'failed' ? convert.result.reason : 'not built');
      failed.push({ format: target.format, precision: target.precision, reason: `conversion failed: ${reason}` });
      continue;
    }
    const format = ctx.catalogue.requireFormat(target.format);
    const record = await readArtifactRecord(convert.dir);
    Object.assign(toolVersions, record.toolVersions);
    const validate = ctx.inputs[target.validate];
    const verdict = validate && (await readStepFileIfAny(validate.dir, VALIDATION_FILE));
    if (!validate || !verdict) {
      failed.push({
        format: target.format,
        precision: target.precision,
        reason: `validation did not run: ${ctx.failedDeps[target.validate] ?? 'no validation.json'}`,
      });
      continue;
    }
    const validation = validationFigures(verdict);
    if (validation.status !== 'passed') {
      failed.push({
        format: target.format,
        precision: target.precision,
        reason: verdict.reason ?? 'validation outside tolerance',
        validation,
      });
      continue;
    }
    const tensors = await readStepFileIfAny(validate.dir, TENSORS_FILE);
    const benchmarkInput = target.benchmark === undefined ? undefined : ctx.inputs[target.benchmark];
    const benchmarkRecord = benchmarkInput && (await readStepFileIfAny(benchmarkInput.dir, BENCHMARK_FILE));
    if (!benchmarkRecord)
      ctx.log(
        `${label}: no benchmark (${target.benchmark === undefined ? 'not planned: --no-benchmark' : (ctx.failedDeps[target.benchmark] ?? 'no benchmark.json')})`,
      );
    const benchmark =
      benchmarkRecord &&
      benchmarkFigures(
        benchmarkRecord,
        benchmarkRecord.runtimeVersion ?? record.toolVersions[format.runtime.tool] ?? undefined,
      );
    const file = path.join(convert.dir, record.primary);
    const companionNames = record.files.filter((name) => name !== record.primary);
    const extensions = companionNames.map((name) => path.extname(name));
    if (extensions.join() !== format.companionExtensions.join()) {
      throw new EdgezooError(
        'ARTIFACT_INVALID',
        `${params.model} ${label}: a ${format.title} artifact is ${[path.extname(record.primary), ...format.companionExtensions].join(' + ')}, the convert step made ${record.files.join(', ')}`,
      );
    }
    const companions = companionNames.map((name) => ({ file: path.join(convert.dir, name) }));
    const inspect = record.inspect;
    artifacts.push({
      format: target.format,
      precision: target.precision,
      file,
      sha256: await sha256File(file),
      size: record.bytes,
      ...(companions.length > 0 ? { companionFiles: companions } : {}),
      signature: signatureOf(recipe, record, tensors, verdict.outputBindings),
      validation,
      ...(benchmark ? { benchmark } : {}),
      toolVersions: record.toolVersions,
      ...(inspect ? { transposeCount: inspect.transposeCount, flexOps: inspect.flexOps } : {}),
      ...(typeof record.sizeRatio === 'number' ? { sizeRatio: record.sizeRatio } : {}),
      ...quantizationOf(record),
      conversion: conversionOf(record),
    });
  }

  // Nothing passed: no version is written (the executor does not export a failed step), so a
  // fixed build can still take this version number.
  if (artifacts.length === 0)
    return { status: 'failed', reason: new NoArtifactsError(recipe.name, recipe.version, failed.length).message };
  const skipped: SkippedTarget[] = params.skipped.map(({ target, reason }) => ({ ...splitTarget(target), reason }));
  const licenseText = recipe.licenseFile
    ? await readFile(path.join(ctx.projectRoot, recipe.licenseFile), 'utf8')
    : undefined;
  const labels =
    recipe.labels?.kind === 'path'
      ? (await readFile(path.join(ctx.projectRoot, recipe.labels.path), 'utf8')).replace(/\r?\n$/, '').split(/\r?\n/)
      : recipe.labels?.values;
  const zooDir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-package-'));
  try {
    const { dir } = await writeModelVersion(zooDir, {
      recipe,
      artifacts,
      skipped,
      failed,
      source: await provenanceOf(recipe, ctx.projectRoot),
      // The recipe as planned (normalised), hashed: what "this version was built from" means.
      recipeFingerprint: createHash('sha256').update(canonicalJson(recipe)).digest('hex'),
      toolVersions,
      ...(licenseText !== undefined ? { licenseText } : {}),
      ...(labels ? { labels } : {}),
    });
    // Copies, not renames: the temporary zoo may sit on another file system than the outputs.
    for (const name of await readdir(dir)) await copyFile(path.join(dir, name), path.join(ctx.outDir, name));
  } catch (error) {
    if (error instanceof EdgezooError) throw error;
    throw new EdgezooError(
      'PACKAGE_FAILED',
      `${params.model}: packaging failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  } finally {
    await rm(zooDir, { recursive: true, force: true });
  }
  ctx.log(`packaged ${artifacts.length} artifact(s); ${failed.length} failed, ${skipped.length} skipped`);
  return { status: 'ok' };
}

/** What the quantization search chose, from artifact.json's notes (calibrated artifacts only). */
function quantizationOf(record: ArtifactRecord): { quantization?: ArtifactQuantization } {
  const parsed = artifactQuantizationSchema
    .omit({ strategy: true })
    .safeParse((record.notes as Record<string, unknown> | undefined)?.quantization);
  return parsed.success ? { quantization: { strategy: record.strategy ?? 'default', ...parsed.data } } : {};
}

/** How the artifact was made, from artifact.json: the winner, the attempts that failed before it, the pin lines. */
function conversionOf(record: ArtifactRecord): ArtifactConversion {
  const failedAttempts = (record.attempts ?? [])
    .filter((attempt) => attempt.outcome === 'failed')
    .map((attempt) => ({
      converter: attempt.converter,
      strategy: attempt.strategy,
      ...(attempt.stage ? { stage: attempt.stage } : {}),
      ...(attempt.reason ? { reason: attempt.reason } : {}),
    }));
  return {
    converter: record.converter,
    strategy: record.strategy ?? 'default',
    failedAttempts,
    ...(record.pin && record.pin.length > 0 ? { pin: record.pin } : {}),
  };
}
