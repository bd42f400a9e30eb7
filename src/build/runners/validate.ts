/**
 * The validate step: runs an artifact in the runtime a user would run it in and compares it
 * with the source model run by its own runtime, on the recipe's validation samples.
 *
 * Inputs: the convert step's folder (artifact files + `artifact.json`, see ArtifactRecord) and
 * the model's reference step's folder (the source's outputs on the same samples, see
 * ./reference.ts). Outputs: `validation.json` (the ArtifactValidation of src/validate) and
 * `tensors.json` (the artifact's inputs and outputs as its runtime reports them, which the
 * package step turns into the manifest's signature).
 *
 * A failed comparison, or an artifact whose recorded signature does not fit the samples, is a
 * deterministic `{status: 'failed'}` (cached); a runtime that crashes is an error (retried).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EdgezooError } from '../../errors.js';
import type { PlannedStepOf, ValidateParams } from '../../plan/index.js';
import type { Recipe, TargetFormat, Tolerance } from '../../recipe/types.js';
import { openWorkerSession, runInWorker } from '../../toolchain/pool.js';
import {
  TensorError,
  diagnoseConverted,
  diagnoseOnnx,
  prepareFeeds,
  readNpy,
  writeNpy,
  type ArtifactIntermediate,
  resolveThresholds,
  loadOutputs,
  loadSamples,
  validateArtifact,
  type ArtifactSignature,
  type ArtifactValidation,
  type ModelRunner,
  type OnnxDiagnosis,
  type RunnerWorker,
} from '../../validate/index.js';
import type { Catalogue } from '../../catalogue/catalogue.js';
import {
  ARTIFACT_FILE,
  JUDGE_FILE,
  readStepFile,
  readStepFileIfAny,
  TENSORS_FILE,
  VALIDATION_FILE,
  writeStepFile,
  type ArtifactRecord,
  type TensorsRecord,
  type ValidationRecord,
} from '../step-files.js';
import { canonicalJson } from '../../plan/canonical-json.js';
import { sha256File, sha256Hex } from '../../util/hash.js';
import type { StepContext, StepInput, StepResult } from '../types.js';

/** Reads and checks `artifact.json` in a convert step's folder. */
export function readArtifactRecord(convertDir: string): Promise<ArtifactRecord> {
  return readStepFile(convertDir, ARTIFACT_FILE);
}

/**
 * The signature validation applies: artifact.json's, with `outputMapping` (source output ->
 * artifact output, recorded by the converter) used as the output renames where none are given.
 */
export function validationSignature(record: ArtifactRecord): ArtifactSignature {
  const { outputMapping, ...signature } = record.signature ?? {};
  if (outputMapping && !signature.outputNames) signature.outputNames = outputMapping;
  return signature;
}

/**
 * The recipe as the step's params describe it: only what is in the fingerprint reaches the
 * validator (tolerances rebuilt from the two overrides that apply to this artifact).
 */
export function recipeFromParams(recipe: Recipe, params: ValidateParams): Recipe {
  const tolerances: Record<string, Tolerance> = {};
  if (params.tolerance.byPrecision) tolerances[params.precision] = params.tolerance.byPrecision;
  if (params.tolerance.byTarget) tolerances[`${params.format}/${params.precision}`] = params.tolerance.byTarget;
  return {
    ...recipe,
    inputs: params.inputs,
    outputs: params.outputs,
    preprocess: params.preprocess,
    validation: params.validation,
    tolerances,
  };
}

/**
 * A RunnerWorker over one pinned worker of `env` (a WorkerSession, tied to the step's signal and
 * log), which loads a model again when its worker process was replaced (see src/toolchain/session.ts).
 */
export function stepWorker(env: 'tf' | 'torch', ctx: Pick<StepContext, 'signal' | 'log'>): RunnerWorker {
  return openWorkerSession(env, { signal: ctx.signal, log: ctx.log });
}

/** An unloaded runner for an artifact of `format`, in the runtime a user would use (the format's). */
export function artifactRunner(
  format: TargetFormat,
  ctx: Pick<StepContext, 'signal' | 'log'> & { catalogue: Catalogue },
  threads = 1,
): ModelRunner {
  return ctx.catalogue.requireFormat(format).runtime.open({ worker: (env) => stepWorker(env, ctx) }, threads);
}

/** The dependency input whose id ends with `suffix` (`/fetch`, `/convert/tflite/int8`). */
export function inputOf(ctx: StepContext, id: string): StepInput {
  const input = ctx.inputs[id];
  if (!input)
    throw new EdgezooError('STEP_INPUT_MISSING', `the step has no outputs of ${id} (planner or executor bug)`);
  return input;
}

/** One line naming what failed, for the build summary and the manifest. */
export function failureReason(validation: ArtifactValidation): string {
  const failures = validation.outputs.flatMap((output) =>
    output.failures.map((failure) => `output '${output.name}': ${failure}`),
  );
  return failures.length > 0 ? failures.join('; ') : 'validation failed';
}

/** Small figures for the step result (the summary and `--json` events). */
function resultFigures(validation: ArtifactValidation) {
  const figures: Record<string, number | boolean | string> = {
    samples: validation.samples,
    synthetic: validation.synthetic,
    runtime: validation.runtime,
  };
  for (const output of validation.outputs) {
    if (!output.metrics) continue;
    figures[`${output.name}.maxAbs`] = output.metrics.maxAbsError;
    figures[`${output.name}.cosine`] = output.metrics.cosine;
    if (output.metrics.top1 !== undefined) figures[`${output.name}.top1`] = output.metrics.top1;
  }
  return figures;
}

/** What validating one artifact gives: the two step files and, when it failed, why. */
export interface ArtifactVerdict {
  validation: ValidationRecord;
  tensors: TensorsRecord;
  /** Set when it failed. */
  reason?: string;
  figures: Record<string, number | boolean | string>;
}

/**
 * Validates the artifact whose primary file is `dir/primary` (with `signature`, as artifact.json
 * records it) against the reference outputs in `referenceDir`: what the validate step does, and
 * what the convert step's judge does to each attempt (one code path, one set of thresholds).
 */
export async function validateConvertedArtifact(args: {
  params: ValidateParams;
  dir: string;
  primary: string;
  signature: ArtifactSignature;
  referenceDir: string;
  ctx: Pick<StepContext, 'recipe' | 'projectRoot' | 'signal' | 'log' | 'catalogue'>;
}): Promise<ArtifactVerdict> {
  const { params, ctx, signature } = args;
  const recipe = recipeFromParams(ctx.recipe, params);
  const samples = await loadSamples(recipe, ctx.projectRoot, 'validation');
  if (samples.synthetic)
    ctx.log(`no validation samples: ${samples.samples.length} seeded random inputs (seed ${params.validation.seed})`);
  const reference = await loadOutputs(args.referenceDir);

  const runner = artifactRunner(params.format, ctx);
  await runner.load(path.join(args.dir, args.primary));
  let validation: ArtifactValidation;
  let tensors: TensorsRecord;
  try {
    tensors = { runtime: runner.runtime, inputs: runner.inputs(), outputs: runner.outputs() };
    try {
      validation = await validateArtifact({
        recipe,
        samples,
        reference,
        runner,
        format: params.format,
        precision: params.precision,
        signature,
      });
    } catch (error) {
      // The recorded signature does not fit the artifact (a layout or shape that is not the
      // artifact's): as deterministic as a metric out of tolerance, so cached as a failure.
      if (!(error instanceof TensorError)) throw error;
      const reason = `the artifact cannot take the validation samples: ${error.message}`;
      return {
        validation: {
          status: 'failed',
          reason,
          format: params.format,
          precision: params.precision,
          runtime: runner.runtime,
          samples: samples.samples.length,
          synthetic: samples.synthetic,
          outputs: [],
          unmatchedArtifactOutputs: [],
        },
        tensors,
        reason,
        figures: {},
      };
    }
  } finally {
    await runner.dispose();
  }
  const reason = validation.status === 'failed' ? failureReason(validation) : undefined;
  ctx.log(
    `${params.format}/${params.precision}: ${validation.status} on ${validation.samples} ${samples.synthetic ? 'synthetic ' : ''}samples in ${runner.runtime}`,
  );
  return {
    validation: reason ? { ...validation, reason } : validation,
    tensors,
    ...(reason ? { reason } : {}),
    figures: resultFigures(validation),
  };
}

/** The validate step runner (see the module comment). */
export async function runValidateStep(step: PlannedStepOf<'validate'>, ctx: StepContext): Promise<StepResult> {
  const params = step.params;
  const target = `${params.format}/${params.precision}`;
  const convert = inputOf(ctx, `${params.model}/convert/${target}`);
  const record = await readArtifactRecord(convert.dir);
  const signature = validationSignature(record);
  // The convert step's judge validated these very bytes with this signature and these params: reuse it.
  const referenceDir = inputOf(ctx, `${params.model}/reference`).dir;
  const judged = await judgedVerdict(convert.dir, record, signature, params, referenceDir);
  if (judged) ctx.log(`${target}: the convert step's judge validated this artifact; its verdict is reused`);
  const verdict =
    judged ??
    (await validateConvertedArtifact({
      params,
      dir: convert.dir,
      primary: record.primary,
      signature,
      referenceDir,
      ctx,
    }));
  await writeStepFile(ctx.outDir, VALIDATION_FILE, verdict.validation);
  await writeStepFile(ctx.outDir, TENSORS_FILE, verdict.tensors);
  if (!verdict.reason) return { status: 'ok', figures: verdict.figures };
  return Object.keys(verdict.figures).length > 0
    ? { status: 'failed', reason: verdict.reason, figures: verdict.figures }
    : { status: 'failed', reason: verdict.reason };
}

/**
 * The digest a judge verdict is tied to: the artifact's primary file, the signature it was
 * validated with, and the validation params.
 */
export async function judgeDigest(
  dir: string,
  primary: string,
  signature: ArtifactSignature,
  params: ValidateParams,
  referenceDir: string,
): Promise<string> {
  const file = await sha256File(path.join(dir, primary));
  const reference: Record<string, string> = {};
  for (const name of (await readdir(referenceDir)).sort())
    reference[name] = await sha256File(path.join(referenceDir, name));
  return sha256Hex(canonicalJson({ file, signature, params, reference }));
}

async function judgedVerdict(
  dir: string,
  record: ArtifactRecord,
  signature: ArtifactSignature,
  params: ValidateParams,
  referenceDir: string,
): Promise<ArtifactVerdict | undefined> {
  const judge = await readStepFileIfAny(dir, JUDGE_FILE);
  if (!judge) return undefined;
  if (judge.digest !== (await judgeDigest(dir, record.primary, signature, params, referenceDir))) return undefined;
  const { validation, tensors } = judge;
  return {
    validation,
    tensors,
    ...(validation.reason ? { reason: validation.reason } : {}),
    figures: validation.outputs.length > 0 ? resultFigures(validation as ArtifactValidation) : {},
  };
}

/** What `diagnoseFailedArtifact` found for one failed artifact. */
export type ArtifactDiagnosis = { supported: true; diagnosis: OnnxDiagnosis } | { supported: false; reason: string };

/** The runtime that keeps intermediate tensors of each converted format (src/toolchain/python/ops_validate.py). */
const INTERMEDIATES_RUNTIME: Readonly<Record<string, 'litert' | 'openvino'>> = {
  tflite: 'litert',
  openvino: 'openvino',
};

/**
 * For a failed validate step: runs the prepared fp32 model (the common ancestor) and the artifact
 * on the first validation sample with every intermediate tensor exposed, and finds the first op
 * whose output diverges. ONNX artifacts keep the prepared model's tensor names (diagnoseOnnx);
 * TFLite and OpenVINO artifacts rename, fuse and transpose, so their tensors (kept by LiteRT's
 * preserve-all-tensors mode, or added as OpenVINO outputs) are paired by their numbers
 * (diagnoseConverted). `outputsOf(stepId)` gives a step's output folder (from the cache) or undefined.
 */
export async function diagnoseFailedArtifact(
  step: PlannedStepOf<'validate'>,
  outputsOf: (stepId: string) => Promise<string | undefined>,
  recipe: Recipe,
  projectRoot: string,
): Promise<ArtifactDiagnosis> {
  const params = step.params;
  const converted = INTERMEDIATES_RUNTIME[params.format];
  if (params.format !== 'onnx' && !converted) {
    return {
      supported: false,
      reason: `diagnosing ${params.format} artifacts is not supported (ONNX, TFLite and OpenVINO are)`,
    };
  }
  const prepareDir = await outputsOf(`${params.model}/prepare`);
  const convertDir = await outputsOf(`${params.model}/convert/${params.format}/${params.precision}`);
  if (!prepareDir || !convertDir)
    return { supported: false, reason: 'the prepared model or the artifact is not in the cache (build again)' };
  const record = await readArtifactRecord(convertDir);
  const paramsRecipe = recipeFromParams(recipe, params);
  const samples = await loadSamples(paramsRecipe, projectRoot, 'validation');
  const sample = samples.samples[0];
  if (!sample) return { supported: false, reason: 'no validation sample to run' };
  const thresholds = resolveThresholds(params.precision, params.format, paramsRecipe.tolerances);
  const referencePath = path.join(prepareDir, 'model.onnx');
  const artifactPath = path.join(convertDir, record.primary);
  if (!converted) {
    const diagnosis = await diagnoseOnnx({
      referencePath,
      artifactPath,
      recipeInputs: paramsRecipe.inputs,
      sample,
      thresholds,
      signature: validationSignature(record),
    });
    return { supported: true, diagnosis };
  }
  const validateDir = await outputsOf(step.id);
  const tensors = validateDir ? await readStepFileIfAny(validateDir, TENSORS_FILE) : undefined;
  if (!tensors)
    return { supported: false, reason: "the validate step's tensors.json is not in the cache (build again)" };
  const work = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-diagnose-'));
  try {
    const feeds = prepareFeeds(sample, paramsRecipe.inputs, tensors.inputs, validationSignature(record));
    const inputs: Record<string, string> = {};
    for (const [index, [name, tensor]] of Object.entries(feeds).entries()) {
      inputs[name] = path.join(work, `in-${index}.npy`);
      await writeNpy(inputs[name]!, tensor);
    }
    const reply = await runInWorker('tf', 'validate.intermediates', {
      runtime: converted,
      model: artifactPath,
      inputs,
      outputDir: path.join(work, 'out'),
    });
    const artifact: ArtifactIntermediate[] = [];
    for (const entry of reply.tensors)
      artifact.push({ name: entry.name, op: entry.op, tensor: await readNpy(entry.npy) });
    const diagnosis = await diagnoseConverted({
      referencePath,
      recipeInputs: paramsRecipe.inputs,
      sample,
      thresholds,
      artifact,
    });
    return { supported: true, diagnosis };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
