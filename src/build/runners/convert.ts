/**
 * The convert step: one artifact (format x precision) from the prepared ONNX model (or the
 * PyTorch source for litert-torch), through the catalogue backend the plan names, then the
 * format's `finishArtifact` (edgezoo metadata in the file: ONNX metadata_props, TFLite `edgezoo`
 * entry, OpenVINO rt_info; an inspection: Transpose/Flex/custom ops, quantisation) and
 * `artifact.json`, the contract with validate, benchmark and package. Reads only its params and
 * its dependencies' folders.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ArtifactInspection, FinishedArtifact, StrategyContext } from '../../catalogue/types.js';
import { EdgezooError } from '../../errors.js';
import { allNodes, loadModel } from '../../formats/onnx/index.js';
import type { ConvertParams, PlannedStepOf } from '../../plan/index.js';
import type { Recipe } from '../../recipe/types.js';
import {
  ONNX2TF_REPLACEMENTS_FILE,
  type CalibrationArrays,
  type ConvertJob,
  type ConvertOutput,
  type PreparedSignature,
} from '../../toolchain/backends/index.js';
import { defaultLayout } from '../../toolchain/backends/layouts.js';
import { ConverterError } from '../../toolchain/backends/run-tool.js';
import { backendToolVersions, provenanceProps, type ArtifactProvenance } from '../../toolchain/backends/provenance.js';
import { loadSamples, stackSampleInput, writeNpy } from '../../validate/index.js';
import { ARTIFACT_FILE, PREPARE_FILE, readStepFile, writeStepFile, type ArtifactRecord } from '../step-files.js';
import {
  describeFailedAttempts,
  opsVerdict,
  pinLines,
  runAttempts,
  strategyCandidates,
  type AttemptFailure,
  type AttemptRecord,
  type StrategyCandidate,
} from '../attempts.js';
import type { StepContext, StepResult } from '../types.js';
import { PREPARED_MODEL_FILE, sourceSha256, torchSourceOf } from './prepare.js';

export type { ArtifactInspection };

/** The convert step runner (see the module comment). */
export async function runConvertStep(step: PlannedStepOf<'convert'>, ctx: StepContext): Promise<StepResult> {
  const params = step.params;
  const backend = ctx.catalogue.requireConverter(params.converter, params.precision);
  const format = ctx.catalogue.requireFormat(params.format);
  const depDir = step.deps.length > 0 ? ctx.inputs[step.deps[0]!]?.dir : undefined;
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-convert-'));
  try {
    let prepared: PreparedSignature | undefined;
    let inputFile: string | undefined;
    let replacementFile: string | undefined;
    if (params.from === 'onnx') {
      if (!depDir) throw new Error(`${step.id} has no prepare input (planner bug)`);
      inputFile = path.join(depDir, PREPARED_MODEL_FILE);
      const { inputs, outputs } = await readStepFile(depDir, PREPARE_FILE);
      prepared = { inputs, outputs };
      if (existsSync(path.join(depDir, ONNX2TF_REPLACEMENTS_FILE)))
        replacementFile = path.join(depDir, ONNX2TF_REPLACEMENTS_FILE);
    }
    const calibration = params.calibration ? await stageCalibration(params, ctx, workDir) : undefined;
    const toolVersions = await backendToolVersions([backend]);
    const provenanceOf = (layouts: Record<string, string>): ArtifactProvenance => ({
      name: params.model,
      version: params.provenance.version,
      license: params.provenance.license,
      sourceSha256: params.source ? sourceSha256(params.source) : prepared ? preparedSourceSha(inputFile!) : 'unknown',
      recipeFingerprint: step.fingerprint,
      toolVersions,
      layouts,
    });
    const sourceLayouts = prepared
      ? Object.fromEntries(
          [...prepared.inputs, ...prepared.outputs].map((t) => [t.name, t.layout ?? defaultLayout(t.shape.length)]),
        )
      : Object.fromEntries(params.inputs.map((i) => [i.name, i.layout]));

    const sourceKind = params.source?.kind ?? (prepared ? 'onnx' : 'unknown');
    const routes = [backend];
    const candidates = strategyCandidates(routes, params.strategies, () =>
      strategyContext(params.precision, params.inputs, inputFile, sourceKind),
    );
    let attemptNo = 0;
    const converterErrors: unknown[] = [];
    const outcome = await runAttempts<StrategyCandidate, Converted>({
      candidates,
      label: (c) => ({ converter: c.backend.name, strategy: c.strategy.name }),
      log: ctx.log,
      attempt: async (candidate) => {
        attemptNo += 1;
        const scratch = path.join(workDir, `backend-${attemptNo}`);
        await mkdir(scratch);
        const job: ConvertJob = {
          stepId: step.id,
          model: params.model,
          precision: params.precision,
          ...(inputFile ? { inputFile } : {}),
          ...(prepared ? { prepared } : {}),
          ...(params.from === 'pytorch' && params.source
            ? { torchSource: torchSourceOf(params.source, ctx.projectRoot, depDir) }
            : {}),
          inputs: params.inputs,
          outputs: params.outputs,
          opset: params.opset,
          ...(calibration ? { calibration } : {}),
          ...(replacementFile ? { onnx2tfReplacementFile: replacementFile } : {}),
          metadata: provenanceProps(provenanceOf(sourceLayouts)),
          outDir: ctx.outDir,
          workDir: scratch,
          strategy: candidate.strategy,
          log: ctx.log,
          signal: ctx.signal,
        };
        const strategyNote =
          candidate.strategy === candidate.backend.strategies[0] ? '' : ` (strategy ${candidate.strategy.name})`;
        ctx.log(
          `[edgezoo] convert: ${candidate.backend.name} ${params.from} -> ${params.format} ${params.precision}${strategyNote}`,
        );
        const output = await candidate.backend.convert(job);
        // Metadata into the final bytes, then what is inside them.
        const finished = await format.finishArtifact({
          primaryPath: path.join(ctx.outDir, output.primary),
          precision: params.precision,
          converter: candidate.backend.name,
          output,
          sourceLayouts,
          provenance: provenanceOf,
          log: ctx.log,
          signal: ctx.signal,
        });
        return { output, ...finished };
      },
      judge: async (converted) =>
        format.builtinOpsOnly ? opsVerdict(converted.inspection, params.allowOps ?? []) : { ok: true },
      failureOf: (error) => {
        converterErrors.push(error);
        return attemptFailure(error);
      },
      discard: () => emptyDir(ctx.outDir),
    });
    if (!outcome.winner) return finalFailure(step.id, outcome.attempts, converterErrors, ctx);
    const { candidate, result } = outcome.winner;
    const { output, layouts, inspection } = result;

    const bytes = await totalBytes(ctx.outDir, output.files);
    const fp32Bytes = params.precision === 'fp32' ? bytes : output.fp32Bytes;
    const artifact: ArtifactRecord = {
      format: params.format,
      precision: params.precision,
      converter: candidate.backend.name,
      strategy: candidate.strategy.name,
      primary: output.primary,
      files: output.files,
      signature: { ...output.signature, ...(output.outputMapping ? { outputMapping: output.outputMapping } : {}) },
      toolVersions,
      inspect: inspection,
      bytes,
      sizeRatio: fp32Bytes ? round(bytes / fp32Bytes, 4) : null,
      layouts,
      metadataLocation: format.metadataLocation,
      ...(output.notes ? { notes: output.notes } : {}),
      attempts: outcome.attempts,
    };
    if (outcome.winner.index > 0) {
      const lines = pinLines({
        format: params.format,
        precision: params.precision,
        winner: { converter: candidate.backend.name, strategy: candidate.strategy.name },
        recipeConverter: params.converter,
      });
      artifact.pin = lines;
      ctx.log(
        `[edgezoo] ${candidate.backend.name} ${candidate.strategy.name} won after ${outcome.winner.index} failed attempt(s); pin it in the recipe with:`,
      );
      for (const line of lines) ctx.log(`[edgezoo]   ${line}`);
    }
    await writeStepFile(ctx.outDir, ARTIFACT_FILE, artifact);
    ctx.log(
      `[edgezoo] ${output.primary}: ${bytes} bytes (x${artifact.sizeRatio ?? '?'} of fp32), ${inspection.transposeCount} Transpose, ${inspection.flexOps.length} Flex, ${inspection.quantizationKind}`,
    );
    return {
      status: 'ok',
      figures: {
        bytes,
        sizeRatio: artifact.sizeRatio,
        transposeCount: inspection.transposeCount,
        flexOps: inspection.flexOps.length,
        ...(outcome.winner.index > 0 ? { strategy: candidate.strategy.name, attempts: outcome.attempts.length } : {}),
      },
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** What one attempt made: the backend's output, sealed by the format. */
type Converted = { output: ConvertOutput } & FinishedArtifact;

/** The context strategies' `when` look at: op types are read from the prepared model only now (after a failure). */
function strategyContext(
  precision: ConvertParams['precision'],
  inputs: ConvertParams['inputs'],
  inputFile: string | undefined,
  sourceKind: string,
): StrategyContext {
  const opTypes = new Set<string>();
  if (inputFile) {
    const model = loadModel(inputFile, { loadExternalData: false });
    for (const node of allNodes(model.graph!)) if (node.opType) opTypes.add(node.opType);
  }
  return { precision, inputs, opTypes, sourceKind };
}

/** A converter's failure as one attempt: its first line and key lines, the ops it names. */
function attemptFailure(error: unknown): AttemptFailure {
  if (error instanceof ConverterError) {
    const head = error.message.split('\n')[0] ?? '';
    const reason = head.replace(/^[^:]+: step [^:]+: /, '');
    const ops = error.keyLines.flatMap((line) => /^unsupported op (\S+)/.exec(line)?.[1] ?? []);
    const opLine = error.keyLines.find((line) => /^unsupported op /.test(line));
    return { reason: opLine ? `${reason}; ${opLine}` : reason, ops };
  }
  const text = error instanceof Error ? error.message : String(error);
  return { reason: text.split('\n')[0] ?? text };
}

/**
 * No attempt passed. When every attempt failed to convert, the first converter error is thrown
 * (a tool error: not cached, retried next build), with the other attempts appended; when the
 * judge rejected an artifact, the step fails deterministically (cached), naming the ops and every
 * attempt.
 */
function finalFailure(
  stepId: string,
  attempts: readonly AttemptRecord[],
  errors: readonly unknown[],
  ctx: StepContext,
): StepResult {
  const reason = describeFailedAttempts(attempts);
  ctx.log(`[edgezoo] ${stepId}: no strategy passed: ${reason}`);
  if (!attempts.every((a) => a.stage === 'convert'))
    return { status: 'failed', reason, figures: { attempts: attempts.length } };
  const first = errors[0];
  if (attempts.length === 1 || !(first instanceof EdgezooError)) throw first;
  const others = attempts.slice(1).map((a) => `  also tried ${a.converter} ${a.strategy}: ${a.reason ?? 'failed'}`);
  throw new EdgezooError(first.code, `${first.message}\n${others.join('\n')}`, {
    ...(first.hint === undefined ? {} : { hint: first.hint }),
    cause: first,
  });
}

async function emptyDir(dir: string): Promise<void> {
  for (const entry of await readdir(dir)) await rm(path.join(dir, entry), { recursive: true, force: true });
}

/** The prepared model's recorded source sha256 (its metadata), so every artifact names the original source. */
function preparedSourceSha(preparedModel: string): string {
  const model = loadModel(preparedModel, { loadExternalData: false });
  return model.metadataProps.find((entry) => entry.key === 'edgezoo.source_sha256')?.value ?? 'unknown';
}

/**
 * Calibration samples as .npy files (samples on axis 0): preprocessed as the recipe says, in the
 * recipe's layout and, for 4-D NCHW inputs, in NHWC too (onnx2tf calibrates its NHWC model).
 */
async function stageCalibration(params: ConvertParams, ctx: StepContext, workDir: string): Promise<CalibrationArrays> {
  // Only the calibration-relevant parts come from the params (they are in the fingerprint).
  const recipe: Recipe = {
    ...ctx.recipe,
    inputs: params.inputs,
    calibration: params.calibration!,
    preprocess: params.preprocess ?? ctx.recipe.preprocess,
  };
  const samples = await loadSamples(recipe, ctx.projectRoot, 'calibration');
  const dir = path.join(workDir, 'calibration');
  await mkdir(dir);
  const arrays: CalibrationArrays = { byInput: {}, nhwcByInput: {}, count: samples.samples.length };
  for (const [index, input] of params.inputs.entries()) {
    const file = path.join(dir, `${index}.npy`);
    await writeNpy(file, stackSampleInput(samples, input));
    arrays.byInput[input.name] = file;
    if (input.layout === 'NCHW') {
      const nhwc = path.join(dir, `${index}.nhwc.npy`);
      await writeNpy(nhwc, stackSampleInput(samples, input, 'NHWC'));
      arrays.nhwcByInput[input.name] = nhwc;
    }
  }
  ctx.log(
    `[edgezoo] calibration: ${arrays.count} samples${samples.synthetic ? ' (synthetic)' : ` from ${samples.files.length} files`}`,
  );
  return arrays;
}

async function totalBytes(dir: string, files: readonly string[]): Promise<number> {
  let total = 0;
  for (const file of files) total += (await stat(path.join(dir, file))).size;
  return total;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export type { ConvertOutput };
