/**
 * The convert step: one artifact (format x precision) from the prepared ONNX model (or the
 * PyTorch source for litert-torch), through the catalogue backend the plan names, then the
 * format's `finishArtifact` (edgezoo metadata in the file: ONNX metadata_props, TFLite `edgezoo`
 * entry, OpenVINO rt_info; an inspection: Transpose/Flex/custom ops, quantisation) and
 * `artifact.json`, the contract with validate, benchmark and package. Reads only its params and
 * its dependencies' folders.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ArtifactInspection, BackendSpec, StrategyContext } from '../../catalogue/types.js';
import { EdgezooError, StepCancelledError } from '../../errors.js';
import { allNodes, loadModel } from '../../formats/onnx/index.js';
import type { ConvertParams, ConvertRunParams, PlannedStepOf, ValidateParams } from '../../plan/index.js';
import type { JsonValue, StepBase } from '../../plan/types.js';
import { CALIBRATED_PRECISIONS, type Precision } from '../../catalogue/precisions.js';
import type { Recipe } from '../../recipe/types.js';
import {
  ONNX2TF_REPLACEMENTS_FILE,
  type CalibrationArrays,
  type ConvertJob,
  type ConvertOutput,
  type PreparedSignature,
} from '../../toolchain/backends/index.js';
import { defaultLayout } from '../../toolchain/backends/layouts.js';
import { ConverterError, ConverterOutOfMemoryError } from '../../toolchain/backends/run-tool.js';
import { backendToolVersions, provenanceProps, type ArtifactProvenance } from '../../toolchain/backends/provenance.js';
import { stackCalibrationInput } from '../../quant/calibration.js';
import { labelProblem } from '../../quant/labels.js';
import { isPinned, quantPinLines, quantStrategies, type AppliedQuantization } from '../../quant/search.js';
import { loadSamples, writeNpy } from '../../validate/index.js';
import {
  ARTIFACT_FILE,
  JUDGE_FILE,
  PREPARE_FILE,
  RUN_OUTCOME_FILE,
  readStepFile,
  writeStepFile,
  type ArtifactRecord,
} from '../step-files.js';
import { judgeDigest, validateConvertedArtifact, validationSignature, type ArtifactVerdict } from './validate.js';
import { attemptKey } from '../attempt-store.js';
import {
  describeFailedAttempts,
  opsVerdict,
  pinLines,
  runGroupAttempts,
  strategyCandidates,
  type AttemptFailure,
  type AttemptRecord,
  type StrategyCandidate,
} from '../attempts.js';
import type { StepContext, StepResult } from '../types.js';
import { PREPARED_MODEL_FILE, sourceSha256, torchSourceOf } from './prepare.js';

export type { ArtifactInspection };

/** What one conversion (a convert step, or a convert-run step for several precisions) is given. */
type Conversion = Omit<ConvertRunParams, 'byPrecision'> & {
  byPrecision: Partial<Record<Precision, { allowOps: string[]; judge?: ValidateParams; routes?: string[] }>>;
};

/** How one precision of a conversion ended. */
type TargetOutcome =
  | {
      status: 'ok';
      record: ArtifactRecord;
      dir: string;
      judge?: ArtifactVerdict;
      judgeParams?: ValidateParams;
      referenceDir?: string;
    }
  | { status: 'failed'; reason: string; attempts: AttemptRecord[] }
  | { status: 'error'; error: unknown };

/** What one attempt made for one precision: its folder, artifact.json and the judge's validation. */
interface Converted {
  dir: string;
  record: ArtifactRecord;
  judgeParams?: ValidateParams;
  verdict?: ArtifactVerdict;
}

/** The convert step runner (see the module comment). */
export async function runConvertStep(step: PlannedStepOf<'convert'>, ctx: StepContext): Promise<StepResult> {
  const params = step.params;
  if (params.run) return takeFromRun(step, ctx, params.run);
  const { precision, allowOps, judge, run: _run, routes, routeRevisions: _revisions, ...shared } = params;
  const conversion: Conversion = {
    ...shared,
    precisions: [precision],
    byPrecision: {
      [precision]: { allowOps: allowOps ?? [], ...(judge ? { judge } : {}), ...(routes ? { routes } : {}) },
    },
  };
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-convert-'));
  try {
    const memory = { peakMb: 0 };
    const outcomes = await convertWithAttempts(step, conversion, ctx, workDir, memory);
    return withPeak(await writeOutcome(outcomes.get(precision)!, ctx.outDir, ctx), memory);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** The convert-run step runner: one converter run for several precisions, each into its own folder. */
export async function runConvertRunStep(step: PlannedStepOf<'convert-run'>, ctx: StepContext): Promise<StepResult> {
  const params = step.params;
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-convert-'));
  try {
    const memory = { peakMb: 0 };
    return withPeak(await writeRunOutcomes(await convertWithAttempts(step, params, ctx, workDir, memory), ctx), memory);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function writeRunOutcomes(outcomes: Map<Precision, TargetOutcome>, ctx: StepContext): Promise<StepResult> {
  const all = [...outcomes.values()];
  // Every precision's converter failed: a tool error, as for a single convert step (not cached).
  const firstError = all.find((o) => o.status === 'error');
  if (firstError && all.every((o) => o.status === 'error')) throw firstError.error;
  const figures: Record<string, JsonValue> = {};
  for (const [precision, outcome] of outcomes) {
    const dir = path.join(ctx.outDir, precision);
    await mkdir(dir);
    figures[precision] = outcome.status;
    if (outcome.status === 'error') {
      const error = outcome.error;
      await writeStepFile(dir, RUN_OUTCOME_FILE, {
        status: 'error',
        code: error instanceof EdgezooError ? error.code : 'CONVERTER_FAILED',
        message: error instanceof Error ? error.message : String(error),
        ...(error instanceof EdgezooError && error.hint ? { hint: error.hint } : {}),
      });
      continue;
    }
    const result = await writeOutcome(outcome, dir, ctx);
    await writeStepFile(
      dir,
      RUN_OUTCOME_FILE,
      result.status === 'ok' ? { status: 'ok', result } : { status: 'failed', reason: result.reason, result },
    );
  }
  return { status: 'ok', figures };
}

/** The step result with the peak memory its converter runs took (the executor's memory gate uses it next time). */
function withPeak(result: StepResult, memory: { peakMb: number }): StepResult {
  if (memory.peakMb <= 0) return result;
  return { ...result, figures: { ...result.figures, peakRssMb: Math.round(memory.peakMb) } };
}

/** A convert step of a grouped run: its precision's folder of the run, as if it had converted itself. */
async function takeFromRun(step: PlannedStepOf<'convert'>, ctx: StepContext, runId: string): Promise<StepResult> {
  const runDir = ctx.inputs[runId]?.dir;
  if (!runDir) throw new Error(`${step.id} has no output of ${runId} (planner bug)`);
  const dir = path.join(runDir, step.params.precision);
  const outcome = await readStepFile(dir, RUN_OUTCOME_FILE);
  if (outcome.status === 'error')
    throw new EdgezooError(outcome.code, outcome.message, outcome.hint ? { hint: outcome.hint } : {});
  for (const entry of await readdir(dir))
    if (entry !== RUN_OUTCOME_FILE.name) await cp(path.join(dir, entry), path.join(ctx.outDir, entry));
  ctx.log(`[edgezoo] ${step.params.format}/${step.params.precision}: from the grouped converter run ${runId}`);
  return outcome.result as StepResult;
}

/** Writes a precision's outcome into `dir` (artifact files, artifact.json, judge.json) and gives the step result. */
async function writeOutcome(outcome: TargetOutcome, dir: string, ctx: StepContext): Promise<StepResult> {
  if (outcome.status === 'error') throw outcome.error;
  if (outcome.status === 'failed')
    return { status: 'failed', reason: outcome.reason, figures: { attempts: outcome.attempts.length } };
  const { record } = outcome;
  for (const file of record.files) await cp(path.join(outcome.dir, file), path.join(dir, file));
  await writeStepFile(dir, ARTIFACT_FILE, record);
  if (outcome.judge && outcome.judgeParams && outcome.referenceDir) {
    const digest = await judgeDigest(
      dir,
      record.primary,
      validationSignature(record),
      outcome.judgeParams,
      outcome.referenceDir,
    );
    await writeStepFile(dir, JUDGE_FILE, {
      digest,
      validation: outcome.judge.validation,
      tensors: outcome.judge.tensors,
    });
  }
  const { inspect: inspection } = record;
  ctx.log(
    `[edgezoo] ${record.primary}: ${record.bytes} bytes (x${record.sizeRatio ?? '?'} of fp32), ${inspection.transposeCount} Transpose, ${inspection.flexOps.length} Flex, ${inspection.quantizationKind}`,
  );
  const won = record.attempts && record.attempts.length > 1;
  return {
    status: 'ok',
    figures: {
      bytes: record.bytes,
      sizeRatio: record.sizeRatio,
      transposeCount: inspection.transposeCount,
      flexOps: inspection.flexOps.length,
      ...(won ? { strategy: record.strategy ?? 'default', attempts: record.attempts!.length } : {}),
    },
  };
}

/**
 * The attempt loop of one conversion: candidates (the converter's strategies, or the recipe's
 * pins) until each precision has an artifact the judge passes (builtin ops only where the format
 * asks; the validate step's metrics against the reference step's outputs).
 */
async function convertWithAttempts(
  step: Pick<StepBase, 'id' | 'deps' | 'fingerprint' | 'conversionKey'>,
  params: Conversion,
  ctx: StepContext,
  workDir: string,
  memory: { peakMb: number },
): Promise<Map<Precision, TargetOutcome>> {
  const stepId = step.id;
  const precisions = params.precisions;
  const format = ctx.catalogue.requireFormat(params.format);
  // The converters each precision may use, in order (the first is the plan's `converter`).
  const routesOf = (precision: Precision) => params.byPrecision[precision]?.routes ?? [params.converter];
  const routeNames = [...new Set(precisions.flatMap(routesOf))];
  const routes = routeNames.map((name) => ctx.catalogue.requireConverter(name, precisionsMadeBy(name, params, ctx)));
  const referenceId = `${params.model}/reference`;
  // Without the reference's outputs (it failed: a runtime that cannot run the source) only the structural judge runs.
  const referenceDir = ctx.failedDeps[referenceId] === undefined ? ctx.inputs[referenceId]?.dir : undefined;
  if (ctx.failedDeps[referenceId] !== undefined)
    ctx.log(`[edgezoo] no numeric judge: ${referenceId} failed (${ctx.failedDeps[referenceId]})`);
  const prepareDir = ctx.inputs[`${params.model}/prepare`]?.dir;
  const fetchDir = ctx.inputs[`${params.model}/fetch`]?.dir;
  {
    let prepared: PreparedSignature | undefined;
    let inputFile: string | undefined;
    let replacementFile: string | undefined;
    if (routes.some((route) => route.from === 'onnx')) {
      if (!prepareDir) throw new Error(`${stepId} has no prepare input (planner bug)`);
      inputFile = path.join(prepareDir, PREPARED_MODEL_FILE);
      const { inputs, outputs } = await readStepFile(prepareDir, PREPARE_FILE);
      prepared = { inputs, outputs };
      if (existsSync(path.join(prepareDir, ONNX2TF_REPLACEMENTS_FILE)))
        replacementFile = path.join(prepareDir, ONNX2TF_REPLACEMENTS_FILE);
    }
    const calibration = params.calibration ? await stageCalibration(params, ctx, workDir) : undefined;
    const toolVersionsOf = new Map<string, Promise<Record<string, string>>>();
    const versionsOf = (backend: BackendSpec) => {
      if (!toolVersionsOf.has(backend.name)) toolVersionsOf.set(backend.name, backendToolVersions([backend]));
      return toolVersionsOf.get(backend.name)!;
    };
    // What a route reads: the prepared ONNX model, or the source itself (litert-torch).
    const readsOnnx = (backend: BackendSpec) => backend.from === 'onnx';
    const provenanceOf =
      (backend: BackendSpec, toolVersions: Record<string, string>) =>
      (layouts: Record<string, string>): ArtifactProvenance => ({
        name: params.model,
        version: params.provenance.version,
        license: params.provenance.license,
        sourceSha256:
          readsOnnx(backend) && inputFile
            ? preparedSourceSha(inputFile)
            : params.source
              ? sourceSha256(params.source)
              : 'unknown',
        recipeFingerprint: step.fingerprint,
        toolVersions,
        layouts,
      });
    const sourceLayoutsOf = (backend: BackendSpec) =>
      readsOnnx(backend) && prepared
        ? Object.fromEntries(
            [...prepared.inputs, ...prepared.outputs].map((t) => [t.name, t.layout ?? defaultLayout(t.shape.length)]),
          )
        : Object.fromEntries(params.inputs.map((i) => [i.name, i.layout]));
    const sourceKind = params.source?.kind ?? (prepared ? 'onnx' : 'unknown');
    let context: StrategyContext | undefined;
    const contextOf = () => {
      context ??= strategyContext(precisions[0]!, params.inputs, inputFile, sourceKind);
      return context;
    };
    const candidates = routeCandidates(routes, params, calibration !== undefined, contextOf);
    const keyOf = (candidate: StrategyCandidate, precision: Precision) => ({
      conversionKey: step.conversionKey!,
      converter: candidate.backend.name,
      ...(candidate.backend.revision ? { revision: candidate.backend.revision } : {}),
      strategy: candidate.strategy,
      precision,
    });
    let attemptNo = 0;

    const outcomes = await runGroupAttempts<Precision, StrategyCandidate, Converted>({
      keys: precisions,
      candidates,
      appliesTo: (candidate, precision) => routesOf(precision).includes(candidate.backend.name),
      recall: async (candidate, precision) => {
        if (!ctx.attempts || !step.conversionKey) return undefined;
        for (const allowOps of [undefined, params.byPrecision[precision]?.allowOps ?? []]) {
          const key = attemptKey({ ...keyOf(candidate, precision), ...(allowOps ? { allowOps } : {}) });
          const remembered = await ctx.attempts.recall(key);
          if (!remembered) continue;
          const { error } = remembered;
          return {
            record: remembered.record,
            ...(error
              ? { error: new EdgezooError(error.code, error.message, error.hint ? { hint: error.hint } : {}) }
              : {}),
          };
        }
        return undefined;
      },
      remember: async (candidate, precision, record, error) => {
        if (!ctx.attempts || !step.conversionKey || !rememberable(record, error)) return;
        const allowOps = record.stage === 'ops' ? (params.byPrecision[precision]?.allowOps ?? []) : undefined;
        const key = attemptKey({ ...keyOf(candidate, precision), ...(allowOps ? { allowOps } : {}) });
        const { remembered: _remembered, ...kept } = record;
        await ctx.attempts.remember(
          key,
          {
            record: kept,
            ...(error instanceof EdgezooError
              ? { error: { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) } }
              : {}),
          },
          { stepId, conversionKey: step.conversionKey },
        );
      },
      label: (c) => ({ converter: c.backend.name, strategy: c.strategy.name }),
      log: ctx.log,
      failureOf: attemptFailure,
      // Out of memory: another strategy would only be killed again.
      fatal: (error) => error instanceof ConverterOutOfMemoryError,
      attempt: async (candidate, open) => {
        attemptNo += 1;
        const scratch = path.join(workDir, `attempt-${attemptNo}`);
        const outDirs: Partial<Record<Precision, string>> = {};
        for (const precision of open) {
          outDirs[precision] = path.join(scratch, 'out', precision);
          await mkdir(outDirs[precision]!, { recursive: true });
        }
        await mkdir(path.join(scratch, 'backend'));
        const backend = candidate.backend;
        const toolVersions = await versionsOf(backend);
        const provenance = provenanceOf(backend, toolVersions);
        const sourceLayouts = sourceLayoutsOf(backend);
        const job: ConvertJob = {
          stepId,
          model: params.model,
          precision: open[0]!,
          ...(readsOnnx(backend) && inputFile ? { inputFile } : {}),
          ...(readsOnnx(backend) && prepared ? { prepared } : {}),
          ...(backend.from === 'pytorch' && params.source
            ? {
                torchSource: torchSourceOf(
                  { source: params.source, outputs: params.outputs },
                  ctx.projectRoot,
                  fetchDir,
                ),
              }
            : {}),
          inputs: params.inputs,
          outputs: params.outputs,
          opset: params.opset,
          ...(calibration ? { calibration } : {}),
          ...(replacementFile && readsOnnx(backend) ? { onnx2tfReplacementFile: replacementFile } : {}),
          metadata: provenanceProps(provenance(sourceLayouts)),
          outDir: outDirs[open[0]!]!,
          workDir: path.join(scratch, 'backend'),
          strategy: candidate.strategy,
          log: ctx.log,
          signal: ctx.signal,
          memory,
          ...(ctx.cacheDir ? { attemptCache: { dir: ctx.cacheDir, key: step.fingerprint } } : {}),
        };
        const strategyNote =
          candidate.strategy === candidate.backend.strategies[0] ? '' : ` (strategy ${candidate.strategy.name})`;
        ctx.log(
          `[edgezoo] convert: ${candidate.backend.name} ${params.from} -> ${params.format} ${open.join(', ')}${strategyNote}`,
        );
        let made: Map<Precision, ConvertOutput | Error>;
        if (open.length === 1) made = new Map([[open[0]!, await backend.convert(job)]]);
        else if (backend.convertMany) made = await backend.convertMany(job, open, outDirs);
        else {
          // A fallback route that makes one precision per run (litert-torch) runs once per precision.
          made = new Map();
          for (const precision of open) {
            const one = { ...job, precision, outDir: outDirs[precision]! };
            try {
              made.set(precision, await backend.convert(one));
            } catch (error) {
              if (error instanceof StepCancelledError || error instanceof ConverterOutOfMemoryError) throw error;
              made.set(precision, error instanceof Error ? error : new Error(String(error)));
            }
          }
        }
        const converted = new Map<Precision, Converted | Error>();
        for (const [precision, output] of made) {
          if (output instanceof Error) {
            converted.set(precision, output);
            continue;
          }
          const dir = outDirs[precision]!;
          // Metadata into the final bytes, then what is inside them.
          const { layouts, inspection } = await format.finishArtifact({
            primaryPath: path.join(dir, output.primary),
            precision,
            converter: backend.name,
            output,
            sourceLayouts,
            provenance,
            log: ctx.log,
            signal: ctx.signal,
          });
          const bytes = await totalBytes(dir, output.files);
          const fp32Bytes = precision === 'fp32' ? bytes : output.fp32Bytes;
          const judgeParams = params.byPrecision[precision]?.judge;
          converted.set(precision, {
            dir,
            record: {
              format: params.format,
              precision,
              converter: backend.name,
              strategy: candidate.strategy.name,
              primary: output.primary,
              files: output.files,
              signature: {
                ...output.signature,
                ...(output.outputMapping ? { outputMapping: output.outputMapping } : {}),
              },
              toolVersions,
              inspect: inspection,
              bytes,
              sizeRatio: fp32Bytes ? round(bytes / fp32Bytes, 4) : null,
              layouts,
              metadataLocation: format.metadataLocation,
              ...(output.notes ? { notes: output.notes } : {}),
            },
            ...(judgeParams && referenceDir ? { judgeParams } : {}),
          });
        }
        return converted;
      },
      judge: async (precision, converted) => {
        // A label the bytes do not bear (a search rung that left nothing quantised) is rejected like a wrong op.
        const mislabelled = labelProblem(format, precision, converted.record.inspect.quantizationKind);
        if (mislabelled) return { ok: false, stage: 'ops', reason: mislabelled };
        if (format.builtinOpsOnly) {
          const ops = opsVerdict(converted.record.inspect, params.byPrecision[precision]?.allowOps ?? []);
          if (!ops.ok) return ops;
        }
        const judgeParams = converted.judgeParams;
        if (!judgeParams || !referenceDir) return { ok: true };
        converted.verdict = await validateConvertedArtifact({
          params: judgeParams,
          dir: converted.dir,
          primary: converted.record.primary,
          signature: validationSignature(converted.record),
          referenceDir,
          ctx,
        });
        const cosines = Object.fromEntries(
          converted.verdict.validation.outputs.flatMap((output) =>
            output.metrics ? [[output.name, Math.round(output.metrics.cosine * 1e6) / 1e6]] : [],
          ),
        );
        return converted.verdict.reason
          ? { ok: false, stage: 'numbers', reason: converted.verdict.reason, cosines }
          : { ok: true, cosines };
      },
    });

    const results = new Map<Precision, TargetOutcome>();
    for (const [precision, outcome] of outcomes) {
      const chosen = outcome.winner ?? outcome.fallback;
      if (!chosen) {
        results.set(precision, finalFailure(`${params.format}/${precision}`, outcome.attempts, outcome.errors, ctx));
        continue;
      }
      const { candidate, result } = chosen;
      const record: ArtifactRecord = { ...result.record, attempts: outcome.attempts };
      const quantLines = outcome.winner ? quantWinnerLines(params, precision, record) : undefined;
      if (quantLines) {
        record.pin = quantLines;
        ctx.log(
          `[edgezoo] ${params.format}/${precision}: quantization ${candidate.strategy.name} chosen; pin it with:`,
        );
        for (const line of quantLines) ctx.log(`[edgezoo]   ${line}`);
      } else if (outcome.winner && outcome.winner.index > 0) {
        const lines = pinLines({
          format: params.format,
          precision,
          winner: { converter: candidate.backend.name, strategy: candidate.strategy.name },
          recipeConverter: routesOf(precision)[0]!,
        });
        record.pin = lines;
        ctx.log(
          `[edgezoo] ${params.format}/${precision}: ${candidate.backend.name} ${candidate.strategy.name} won after ${outcome.winner.index} failed attempt(s); pin it in the recipe with:`,
        );
        for (const line of lines) ctx.log(`[edgezoo]   ${line}`);
      }
      let judge = result.verdict;
      if (!outcome.winner && judge?.reason) {
        // Nothing passed: the first artifact that failed only on its numbers is published, so
        // validation reports its metrics; the reason names every strategy tried.
        const reason = `${judge.reason} (${describeFailedAttempts(outcome.attempts)})`;
        judge = { ...judge, reason, validation: { ...judge.validation, reason } };
        ctx.log(
          `[edgezoo] ${params.format}/${precision}: no strategy passed; keeping the ${candidate.strategy.name} artifact for validation to report`,
        );
      }
      results.set(precision, {
        status: 'ok',
        record,
        dir: result.dir,
        ...(judge ? { judge } : {}),
        ...(result.judgeParams ? { judgeParams: result.judgeParams } : {}),
        ...(referenceDir ? { referenceDir } : {}),
      });
    }
    return results;
  }
}

/**
 * The candidates of a conversion, lazily, route after route: the first route's strategies (the
 * recipe's pins, when it pins: then no other route is tried), then each other route's. A
 * calibrated target of a backend the quantization search drives takes the search's candidates
 * for that route. A route is read only after every candidate before it failed.
 */
function* routeCandidates(
  routes: readonly BackendSpec[],
  params: Conversion,
  calibrated: boolean,
  context: () => StrategyContext,
): Generator<StrategyCandidate> {
  for (const [index, route] of routes.entries()) {
    if (calibrated && route.quantSearch && params.precisions.length === 1)
      yield* quantCandidates(route, params, params.precisions[0]!, index === 0);
    else yield* strategyCandidates([route], index === 0 ? params.strategies : null, context);
    if (index === 0 && params.strategies && params.strategies.length > 0) return;
  }
}

/** A precision of the conversion that `name` makes (the first; requireConverter checks it makes one). */
function precisionsMadeBy(name: string, params: Conversion, ctx: StepContext): Precision {
  const made = ctx.catalogue.backend(name)?.precisions ?? [];
  return params.precisions.find((p) => made.includes(p)) ?? params.precisions[0]!;
}

/**
 * The quantization search's candidates for a calibrated target: `quant-*` strategies of the
 * backend, each converting the float model with the recipe's pinned strategy (if any).
 */
function quantCandidates(
  backend: BackendSpec,
  params: Conversion,
  precision: Precision,
  firstRoute: boolean,
): StrategyCandidate[] {
  // The recipe's strategy pins are the first route's.
  const floatStrategy = firstRoute ? params.strategies?.[0] : undefined;
  return quantStrategies(params.format, precision, params.quantization).map((strategy) => ({
    backend,
    strategy: floatStrategy
      ? { ...strategy, options: { ...strategy.options, convertStrategy: floatStrategy } }
      : strategy,
  }));
}

/** The recipe lines pinning a searched quantization: when a layer stayed float or the search went past its first rung. */
function quantWinnerLines(params: Conversion, precision: Precision, record: ArtifactRecord): string[] | undefined {
  const applied = (record.notes as Record<string, unknown> | undefined)?.quantization as
    | AppliedQuantization
    | undefined;
  // Uncalibrated precisions (dynamic-int8's keep-float rungs) are pinned by their strategy name.
  if (!applied || isPinned(params.quantization) || !CALIBRATED_PRECISIONS.includes(precision)) return undefined;
  const searched =
    applied.keptFloat.length > 0 ||
    applied.keptFloatOps.length > 0 ||
    applied.opTypes !== null ||
    (applied.int16Tensors?.length ?? 0) > 0 ||
    (applied.calibrationMethod !== undefined && applied.calibrationMethod !== 'MinMax') ||
    applied.floatFallback;
  return searched ? quantPinLines(`${params.format}/${precision}`, applied, precision) : undefined;
}

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

/**
 * Whether a failed attempt is remembered for later builds: a converter that ran and failed on
 * the model (not a crashed worker, not an internal error), or a judge that rejected the ops of
 * what it made; never a rejection on the numbers (see src/build/attempt-store.ts).
 */
function rememberable(record: AttemptRecord, error: unknown): boolean {
  if (record.stage === 'ops') return true;
  return record.stage === 'convert' && error instanceof ConverterError && error.deterministic;
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
 * No attempt passed the judge and none failed only on numbers. When every attempt failed to
 * convert, the outcome is the first converter error (a tool error: not cached, retried next
 * build) with the other attempts appended; when the judge rejected an artifact's ops, a
 * deterministic failure (cached) naming the ops and every attempt.
 */
function finalFailure(
  target: string,
  attempts: AttemptRecord[],
  errors: readonly unknown[],
  ctx: StepContext,
): TargetOutcome {
  const reason = describeFailedAttempts(attempts);
  ctx.log(`[edgezoo] ${target}: no strategy passed: ${reason}`);
  if (!attempts.every((a) => a.stage === 'convert')) return { status: 'failed', reason, attempts };
  const first = errors[0];
  if (attempts.length === 1 || !(first instanceof EdgezooError)) return { status: 'error', error: first };
  const others = attempts.slice(1).map((a) => `  also tried ${a.converter} ${a.strategy}: ${a.reason ?? 'failed'}`);
  return {
    status: 'error',
    error: new EdgezooError(first.code, `${first.message}\n${others.join('\n')}`, {
      ...(first.hint === undefined ? {} : { hint: first.hint }),
      cause: first,
    }),
  };
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
async function stageCalibration(
  params: Pick<ConvertParams, 'inputs' | 'calibration' | 'preprocess'>,
  ctx: StepContext,
  workDir: string,
): Promise<CalibrationArrays> {
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
  const arrays: CalibrationArrays = { byInput: {}, batchAxis: {}, nhwcByInput: {}, count: samples.samples.length };
  for (const [index, input] of params.inputs.entries()) {
    const file = path.join(dir, `${index}.npy`);
    // Each input on its own batch axis (src/quant/calibration.ts): a DND state is not sliced on axis 0.
    const { tensor, batchAxis } = stackCalibrationInput(samples, input);
    await writeNpy(file, tensor);
    arrays.byInput[input.name] = file;
    arrays.batchAxis[input.name] = batchAxis;
    if (input.layout === 'NCHW') {
      const nhwc = path.join(dir, `${index}.nhwc.npy`);
      await writeNpy(nhwc, stackCalibrationInput(samples, input, 'NHWC').tensor);
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
