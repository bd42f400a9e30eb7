/**
 * The files one step leaves for the next (prepare.json, artifact.json, validation.json,
 * tensors.json, benchmark.json): one zod schema and one name each, written and read only
 * through `writeStepFile` / `readStepFile`, so a file from an older edgezoo or a damaged cache
 * entry is a clear error at the boundary instead of an `undefined` three calls later.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { ArtifactInspection } from '../catalogue/types.js';
import { attemptRecordSchema, type AttemptRecord } from './attempts.js';
import { PRECISION_NAMES, type Precision } from '../catalogue/precisions.js';
import { EdgezooError } from '../errors.js';
import type { PreparedSignature } from '../toolchain/backends/types.js';
import type { ArtifactSignature, QuantizationParams, TensorInfo } from '../validate/index.js';

/** A file a step writes for its dependents: its name in the step's folder and its schema. */
export interface StepFile<T> {
  name: string;
  schema: z.ZodType<T>;
}

/** A step file that is missing, not JSON, or not what its schema says. Code `STEP_FILE_INVALID`. */
export class StepFileError extends EdgezooError {
  constructor(message: string, cause?: unknown) {
    super('STEP_FILE_INVALID', message, {
      hint: 'the cache entry is from another edgezoo or damaged: rebuild with --force',
      ...(cause === undefined ? {} : { cause }),
    });
  }
}

/** Writes `value` as `file` in `dir` (2-space JSON, newline at the end). */
export async function writeStepFile<T>(dir: string, file: StepFile<T>, value: T): Promise<void> {
  await writeFile(path.join(dir, file.name), `${JSON.stringify(value, null, 2)}\n`);
}

/** Reads and checks `file` in a step's folder `dir`; throws StepFileError naming the file and the first problem. */
export async function readStepFile<T>(dir: string, file: StepFile<T>): Promise<T> {
  const where = path.join(dir, file.name);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(where, 'utf8'));
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new StepFileError(`${where}: ${missing ? 'the step left no such file' : 'not JSON'}`, error);
  }
  const parsed = file.schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new StepFileError(`${where}: not a valid ${file.name}${at}: ${issue?.message ?? 'invalid'}`, parsed.error);
  }
  return parsed.data;
}

/** Like `readStepFile`, but undefined when the file is absent (a step that did not get that far). */
export async function readStepFileIfAny<T>(dir: string, file: StepFile<T>): Promise<T | undefined> {
  try {
    return await readStepFile(dir, file);
  } catch (error) {
    if (error instanceof StepFileError && (error.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT')
      return undefined;
    throw error;
  }
}

const stringRecord = z.record(z.string(), z.string());
const precisionSchema = z.enum(PRECISION_NAMES as [Precision, ...Precision[]]);
const dtypeSchema = z.enum(['float32', 'float16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool']);

const quantizationParamsSchema: z.ZodType<QuantizationParams> = z.object({
  dtype: z.enum(['int8', 'uint8', 'int16']),
  scale: z.array(z.number()),
  zeroPoint: z.array(z.number()),
  axis: z.number().int().optional(),
});

const artifactSignatureSchema: z.ZodType<ArtifactSignature> = z.object({
  inputLayouts: stringRecord.optional(),
  outputLayouts: stringRecord.optional(),
  inputNames: stringRecord.optional(),
  outputNames: stringRecord.optional(),
  inputQuantization: z.record(z.string(), quantizationParamsSchema).optional(),
  outputQuantization: z.record(z.string(), quantizationParamsSchema).optional(),
  inputPerms: z.record(z.string(), z.array(z.number().int())).optional(),
  outputPerms: z.record(z.string(), z.array(z.array(z.number().int()))).optional(),
  outputPairingUncertain: z.boolean().optional(),
});

// ---- prepare.json -------------------------------------------------------------------------

const dims = z.array(z.union([z.number(), z.string(), z.null()]));

const preparedSignatureSchema: z.ZodType<PreparedSignature> = z.object({
  inputs: z.array(z.object({ name: z.string(), dtype: z.string(), shape: dims, layout: z.string() })),
  outputs: z.array(z.object({ name: z.string(), dtype: z.string(), shape: dims, layout: z.string().optional() })),
});

/** prepare.json: the prepared model's inputs and outputs with layouts, and what made it. */
export type PrepareRecord = PreparedSignature & {
  toolVersions: Record<string, string>;
  /** Parameter replacements applied to the ONNX graph (`op_name param: value`). */
  replacementsApplied?: string[];
};

export const PREPARE_FILE: StepFile<PrepareRecord> = {
  name: 'prepare.json',
  schema: z.intersection(
    preparedSignatureSchema,
    z.object({ toolVersions: stringRecord, replacementsApplied: z.array(z.string()).optional() }),
  ),
};

// ---- artifact.json ------------------------------------------------------------------------

const artifactInspectionSchema: z.ZodType<ArtifactInspection> = z.object({
  transposeCount: z.number().int(),
  flexOps: z.array(z.string()),
  customOps: z.array(z.string()),
  quantizationKind: z.string(),
  opCount: z.number().int(),
});

const jsonValue: z.ZodType<unknown> = z.json();

/** artifact.json: what the convert step tells validate, benchmark and package. */
export interface ArtifactRecord {
  format: string;
  precision: Precision;
  converter: string;
  /** The backend strategy that made it (absent in entries made before strategies existed: the default). */
  strategy?: string;
  /** The file a runtime opens, in the convert step's folder. */
  primary: string;
  /** Every file of the artifact, primary first. */
  files: string[];
  signature: ArtifactSignature & { outputMapping?: Record<string, string> };
  toolVersions: Record<string, string>;
  inspect: ArtifactInspection;
  bytes: number;
  /** bytes / the fp32 artifact of the same format, when known. */
  sizeRatio: number | null;
  /** Layout of every artifact input and output, as written into the file's metadata. */
  layouts: Record<string, string>;
  /** Where the edgezoo metadata lives in the file (the format's `metadataLocation`). */
  metadataLocation: string;
  notes?: Record<string, unknown>;
  /** Every conversion attempt, in order, the last one the winner (src/build/attempts.ts). */
  attempts?: AttemptRecord[];
  /** When a fallback strategy won: the recipe lines that pin it. */
  pin?: string[];
}

/** A name of a file in the step's own folder: no separators, no dot-dot. */
const plainFileName = z
  .string()
  .refine((name) => name !== '' && path.basename(name) === name && name !== '..' && name !== '.', {
    message: 'must name a file of the folder',
  });

export const ARTIFACT_FILE: StepFile<ArtifactRecord> = {
  name: 'artifact.json',
  schema: z.object({
    format: z.string(),
    precision: precisionSchema,
    converter: z.string(),
    strategy: z.string().optional(),
    primary: plainFileName,
    files: z.array(plainFileName).min(1),
    signature: z.intersection(artifactSignatureSchema, z.object({ outputMapping: stringRecord.optional() })),
    toolVersions: stringRecord,
    inspect: artifactInspectionSchema,
    bytes: z.number().int().nonnegative(),
    sizeRatio: z.number().nullable(),
    layouts: stringRecord,
    metadataLocation: z.string(),
    notes: z.record(z.string(), jsonValue).optional(),
    attempts: z.array(attemptRecordSchema).optional(),
    pin: z.array(z.string()).optional(),
  }),
};

// ---- validation.json ----------------------------------------------------------------------

/** One output's figures in validation.json (`OutputComparison` of src/validate; what readers use). */
const outputVerdictSchema = z.object({
  name: z.string(),
  status: z.enum(['passed', 'failed']),
  failures: z.array(z.string()),
  metrics: z
    .object({
      maxAbsError: z.number(),
      meanAbsError: z.number(),
      rmse: z.number(),
      cosine: z.number(),
      top1: z.number().optional(),
      topk: z.number().optional(),
    })
    .optional(),
});

/**
 * validation.json: the verdict on one artifact (`ArtifactValidation` of src/validate, plus the
 * one-line `reason` when it failed). An artifact that could not take the samples has no outputs.
 */
export type ValidationRecord = z.infer<typeof validationRecordSchema>;

const validationRecordSchema = z.object({
  status: z.enum(['passed', 'failed']),
  format: z.string(),
  precision: precisionSchema,
  runtime: z.string(),
  samples: z.number().int().nonnegative(),
  synthetic: z.boolean(),
  outputs: z.array(outputVerdictSchema),
  unmatchedArtifactOutputs: z.array(z.string()),
  reason: z.string().optional(),
  /** Outputs bound through a permutation: the one the numbers settled on (see src/validate/binding.ts). */
  outputBindings: z
    .array(z.object({ source: z.string(), name: z.string(), perm: z.array(z.number().int()) }))
    .optional(),
});

export const VALIDATION_FILE: StepFile<ValidationRecord> = { name: 'validation.json', schema: validationRecordSchema };

// ---- tensors.json -------------------------------------------------------------------------

const tensorInfoSchema: z.ZodType<TensorInfo> = z.object({
  name: z.string(),
  dims: z.array(z.union([z.number(), z.string()])),
  dtype: dtypeSchema,
  quantization: quantizationParamsSchema.optional(),
});

/** tensors.json: the artifact's inputs and outputs as its runtime reported them. */
export interface TensorsRecord {
  runtime: string;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
}

export const TENSORS_FILE: StepFile<TensorsRecord> = {
  name: 'tensors.json',
  schema: z.object({ runtime: z.string(), inputs: z.array(tensorInfoSchema), outputs: z.array(tensorInfoSchema) }),
};

// ---- judge.json ---------------------------------------------------------------------------

/**
 * judge.json (in a convert step's folder): the convert step's judge validated the winning
 * artifact exactly as the validate step would; `digest` ties the verdict to the artifact's bytes,
 * its signature and the validation params, so the validate step reuses it only for those.
 */
export interface JudgeRecord {
  digest: string;
  validation: ValidationRecord;
  tensors: TensorsRecord;
}

export const JUDGE_FILE: StepFile<JudgeRecord> = {
  name: 'judge.json',
  schema: z.object({ digest: z.string(), validation: validationRecordSchema, tensors: TENSORS_FILE.schema }),
};

// ---- outcome.json (convert-run) --------------------------------------------------------------

/**
 * outcome.json: in each precision's folder of a convert-run step, how that precision ended; its
 * convert step returns `result` (or, for `error`, throws the converter's error again).
 */
export type RunOutcomeRecord =
  | { status: 'ok'; result: { status: 'ok'; figures?: Record<string, unknown> } }
  | {
      status: 'failed';
      reason: string;
      result: { status: 'failed'; reason: string; figures?: Record<string, unknown> };
    }
  | { status: 'error'; code: string; message: string; hint?: string };

const stepResultSchema = z.union([
  z.object({ status: z.literal('ok'), figures: z.record(z.string(), jsonValue).optional() }),
  z.object({ status: z.literal('failed'), reason: z.string(), figures: z.record(z.string(), jsonValue).optional() }),
]);

export const RUN_OUTCOME_FILE: StepFile<RunOutcomeRecord> = {
  name: 'outcome.json',
  schema: z.union([
    z.object({ status: z.literal('ok'), result: stepResultSchema }),
    z.object({ status: z.literal('failed'), reason: z.string(), result: stepResultSchema }),
    z.object({ status: z.literal('error'), code: z.string(), message: z.string(), hint: z.string().optional() }),
  ]) as z.ZodType<RunOutcomeRecord>,
};

// ---- benchmark.json -----------------------------------------------------------------------

/** benchmark.json: load time, latency per thread count and peak memory of one artifact. */
export interface BenchmarkRecord {
  runtime: string;
  /** Load (and compile) time of the single-thread run. */
  loadMs: number;
  runs: Array<{
    threads: number;
    loadMs: number;
    medianMs: number;
    p90Ms: number;
    minMs: number;
    iterations: number;
    timedIn: 'in-process' | 'worker';
    /** Resident memory the model added at its peak (load and runs) with this many threads, MiB. */
    peakRssMb?: number;
  }>;
  /** The largest resident memory the model added over all runs, in MiB. */
  peakRssMb: number;
  /**
   * How the peak was taken: `VmHWM` is the kernel's peak resident size (Linux; restarted just
   * before the load) over the size before it; `sampled` is the resident size after every run.
   */
  peakRssSource?: 'VmHWM' | 'sampled';
  /** The machine it ran on, in one line (the model card shows it next to the latency). */
  host?: string;
  /** The same, field by field. */
  machine?: BenchmarkMachine;
  /** Version of the runtime that ran it (onnxruntime-node, ai-edge-litert, openvino). */
  runtimeVersion?: string;
  warmup: number;
}

/** The machine a benchmark ran on. */
export interface BenchmarkMachine {
  cpu: string;
  cores: number;
  memoryMiB: number;
  os: string;
  arch: string;
  node: string;
}

export const benchmarkMachineSchema = z.object({
  cpu: z.string(),
  cores: z.number().int(),
  memoryMiB: z.number().int(),
  os: z.string(),
  arch: z.string(),
  node: z.string(),
});

export const BENCHMARK_FILE: StepFile<BenchmarkRecord> = {
  name: 'benchmark.json',
  schema: z.object({
    runtime: z.string(),
    loadMs: z.number(),
    runs: z.array(
      z.object({
        threads: z.number().int(),
        loadMs: z.number(),
        medianMs: z.number(),
        p90Ms: z.number(),
        minMs: z.number(),
        iterations: z.number().int(),
        timedIn: z.enum(['in-process', 'worker']),
        peakRssMb: z.number().optional(),
      }),
    ),
    peakRssMb: z.number(),
    peakRssSource: z.enum(['VmHWM', 'sampled']).optional(),
    host: z.string().optional(),
    machine: benchmarkMachineSchema.optional(),
    runtimeVersion: z.string().optional(),
    warmup: z.number().int(),
  }),
};
