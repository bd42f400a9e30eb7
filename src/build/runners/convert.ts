/**
 * The convert step: one artifact (format x precision) from the prepared ONNX model (or the
 * PyTorch source for litert-torch), through the backend the plan names, then edgezoo metadata
 * in the file (ONNX metadata_props, TFLite `edgezoo` entry, OpenVINO rt_info), an inspection
 * (Transpose/Flex/custom ops, quantisation) and `artifact.json`, the contract with validate,
 * benchmark and package. Reads only its params and its dependencies' folders.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inspectModel, loadModel, saveModel, setMetadata } from '../../formats/onnx/index.js';
import { inspectTflite, writeTfliteMetadata, EDGEZOO_METADATA_NAME } from '../../formats/tflite/index.js';
import type { JsonValue, PlannedStep } from '../../plan/types.js';
import type {
  InputSpec,
  OutputSpec,
  Precision,
  Preprocess,
  Recipe,
  SampleSet,
  TargetFormat,
} from '../../recipe/types.js';
import {
  convertBackend,
  ONNX2TF_REPLACEMENTS_FILE,
  type CalibrationArrays,
  type ConvertJob,
  type ConvertOutput,
  type PreparedSignature,
} from '../../toolchain/backends/index.js';
import { defaultLayout } from '../../toolchain/backends/layouts.js';
import {
  backendToolVersions,
  provenanceJson,
  provenanceProps,
  type ArtifactProvenance,
} from '../../toolchain/backends/provenance.js';
import { runInWorker } from '../../toolchain/pool.js';
import { loadSamples, stackSampleInput, writeNpy, type ArtifactSignature } from '../../validate/index.js';
import type { StepContext, StepResult } from '../types.js';
import { PREPARE_JSON_FILE, PREPARED_MODEL_FILE, sourceSha256, torchSourceOf, type SourceParams } from './prepare.js';

/** The convert step's params (src/plan/plan.ts). */
export interface ConvertParams {
  model: string;
  format: TargetFormat;
  precision: Precision;
  converter: string;
  from: 'onnx' | 'pytorch';
  inputs: InputSpec[];
  outputs: OutputSpec[];
  opset: number;
  provenance: { version: string; license: string };
  calibration?: SampleSet;
  preprocess?: Preprocess;
  /** PyTorch roads only. */
  source?: SourceParams;
}

/** What inspecting an artifact found (artifact.json `inspect`). */
export interface ArtifactInspection {
  transposeCount: number;
  flexOps: string[];
  customOps: string[];
  quantizationKind: string;
  opCount: number;
}

/** artifact.json: what the convert step tells validate, benchmark and package. */
export interface ArtifactJson {
  format: TargetFormat;
  precision: Precision;
  converter: string;
  primary: string;
  files: string[];
  signature: ArtifactSignature & { outputMapping?: Record<string, string> };
  toolVersions: Record<string, string>;
  inspect: ArtifactInspection;
  bytes: number;
  /** bytes / the fp32 artifact of the same format, when known. */
  sizeRatio: number | null;
  /** Layout of every artifact input and output, as written into the file's metadata. */
  layouts: Record<string, string>;
  /** Where the edgezoo metadata lives in the file. */
  metadataLocation: 'onnx-metadata_props' | 'tflite-metadata-edgezoo' | 'openvino-rt_info';
  notes?: Record<string, JsonValue>;
}

export const ARTIFACT_JSON_FILE = 'artifact.json';

export async function runConvertStep(step: PlannedStep, ctx: StepContext): Promise<StepResult> {
  const params = step.params as unknown as ConvertParams;
  const backend = convertBackend(params.converter, params.precision);
  const depDir = step.deps.length > 0 ? ctx.inputs[step.deps[0]!]?.dir : undefined;
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-convert-'));
  try {
    let prepared: PreparedSignature | undefined;
    let inputFile: string | undefined;
    let replacementFile: string | undefined;
    if (params.from === 'onnx') {
      if (!depDir) throw new Error(`${step.id} has no prepare input (planner bug)`);
      inputFile = path.join(depDir, PREPARED_MODEL_FILE);
      prepared = JSON.parse(await readFile(path.join(depDir, PREPARE_JSON_FILE), 'utf8')) as PreparedSignature;
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

    const scratch = path.join(workDir, 'backend');
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
      log: ctx.log,
      signal: ctx.signal,
    };
    ctx.log(`[edgezoo] convert: ${backend.name} ${params.from} -> ${params.format} ${params.precision}`);
    const output = await backend.convert(job);
    const primaryPath = path.join(ctx.outDir, output.primary);

    // Metadata, then inspection of the final bytes.
    let layouts: Record<string, string>;
    let inspection: ArtifactInspection;
    let metadataLocation: ArtifactJson['metadataLocation'];
    if (params.format === 'onnx') {
      const model = loadModel(primaryPath);
      const summary = inspectModel(model);
      layouts = Object.fromEntries(
        [...summary.inputs, ...summary.outputs].map((t) => [
          t.name,
          sourceLayouts[t.name] ?? t.likelyLayout ?? defaultLayout(t.shape?.length ?? 0),
        ]),
      );
      saveModel(setMetadata(model, provenanceProps(provenanceOf(layouts))), primaryPath);
      inspection = {
        transposeCount: summary.flags.transposeCount,
        flexOps: [],
        customOps: summary.flags.customDomains,
        quantizationKind: summary.flags.quantization,
        opCount: summary.nodeCount,
      };
      metadataLocation = 'onnx-metadata_props';
    } else if (params.format === 'tflite') {
      const before = await inspectTflite(primaryPath);
      layouts = Object.fromEntries([
        ...before.inputs.map(
          (t) =>
            [
              t.name,
              output.signature.inputLayouts?.[t.name] ?? t.likelyLayout ?? defaultLayout(t.shape.length),
            ] as const,
        ),
        ...before.outputs.map(
          (t) =>
            [
              t.name,
              output.signature.outputLayouts?.[t.name] ?? t.likelyLayout ?? defaultLayout(t.shape.length),
            ] as const,
        ),
      ]);
      const withMeta = `${primaryPath}.meta`;
      await writeTfliteMetadata(
        primaryPath,
        withMeta,
        EDGEZOO_METADATA_NAME,
        provenanceJson(provenanceOf(layouts), {
          format: params.format,
          precision: params.precision,
          converter: backend.name,
        }),
      );
      await rename(withMeta, primaryPath);
      const summary = await inspectTflite(primaryPath);
      inspection = {
        transposeCount: summary.flags.transposeCount,
        flexOps: summary.flags.flexOps,
        customOps: summary.flags.customOps,
        quantizationKind: summary.flags.quantization,
        opCount: summary.operatorCount,
      };
      metadataLocation = 'tflite-metadata-edgezoo';
      if (summary.flags.flexOps.length > 0)
        ctx.log(
          `[edgezoo] warning: ${output.primary} needs Flex ops (${summary.flags.flexOps.join(', ')}), which most edge runtimes lack`,
        );
    } else {
      const info = await runInWorker(
        'tf',
        'openvino.info',
        { model: primaryPath },
        { signal: ctx.signal, log: ctx.log },
      );
      if (!info.edgezoo['edgezoo.name'])
        throw new Error(`${output.primary} lost its rt_info edgezoo entries (ovc backend bug)`);
      layouts = JSON.parse(info.edgezoo['edgezoo.layouts'] ?? '{}') as Record<string, string>;
      const opCount = Object.entries(info.ops)
        .filter(([op]) => !['Parameter', 'Result', 'Constant'].includes(op))
        .reduce((n, [, c]) => n + c, 0);
      inspection = {
        transposeCount: info.ops['Transpose'] ?? 0,
        flexOps: [],
        customOps: [],
        quantizationKind: params.precision === 'fp16' ? 'float16-weights' : 'float32',
        opCount,
      };
      metadataLocation = 'openvino-rt_info';
    }

    const bytes = await totalBytes(ctx.outDir, output.files);
    const fp32Bytes = params.precision === 'fp32' ? bytes : output.fp32Bytes;
    const artifact: ArtifactJson = {
      format: params.format,
      precision: params.precision,
      converter: backend.name,
      primary: output.primary,
      files: output.files,
      signature: { ...output.signature, ...(output.outputMapping ? { outputMapping: output.outputMapping } : {}) },
      toolVersions,
      inspect: inspection,
      bytes,
      sizeRatio: fp32Bytes ? round(bytes / fp32Bytes, 4) : null,
      layouts,
      metadataLocation,
      ...(output.notes ? { notes: output.notes } : {}),
    };
    await writeFile(path.join(ctx.outDir, ARTIFACT_JSON_FILE), `${JSON.stringify(artifact, null, 2)}\n`);
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
      },
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
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
