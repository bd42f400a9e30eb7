/**
 * The catalogue's descriptors: one `FormatSpec` per artifact format, one `BackendSpec` per
 * converter, one `EnvSpec` per Python environment. Everything that needs to know which formats,
 * converters, runtimes and tools exist (planner, recipe schema, doctor, env versions, convert /
 * validate / benchmark / package steps, `inspect`) reads a `Catalogue` built from them
 * (./catalogue.ts); nothing else keeps a table of them.
 */
import type { ModelFormat } from '../formats/index.js';
import type { EdgezooModelInfo } from '../formats/onnx/index.js';
import type { JsonValue } from '../plan/types.js';
import type { ConvertJob, ConvertOutput } from '../toolchain/backends/types.js';
import type { EnvName } from '../toolchain/envs.js';
import type { ModelRunner, RunnerWorker, RuntimeName } from '../validate/index.js';
import type { Precision } from './precisions.js';

/** Catalogue names (formats, backends, strategies): lower-case letters, digits and dashes. */
export const CATALOGUE_NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;

/**
 * Named smoke checks doctor may run after importing a module (src/toolchain/python/probe.py
 * holds their code; doctor sends only names, never code).
 */
export type SmokeCheck = 'tensorflow-add' | 'onnx-checker' | 'onnxruntime-cpu' | 'openvino-cpu' | 'torch-ones';

/** One check doctor runs for a requirement. `label` names the check in the report. */
export type Probe =
  /** Import `import` in the env's Python (then run the named smoke check on it). */
  | { import: string; smoke?: SmokeCheck; label?: string }
  /** Run a command line: an executable of the env's bin, or `['-m', module, ...]`; exit 0 expected. */
  | { cli: readonly string[]; label?: string };

/** A pip distribution some catalogue entry needs in a Python env, and how doctor checks it. */
export interface PythonRequirement {
  env: EnvName;
  /** The pip distribution (as in the lock file), e.g. `onnx2tf`. */
  distribution: string;
  /** Checks doctor runs; with none, only the installed version is compared with the lock. */
  probes: readonly Probe[];
}

/** A Python environment: one lock file, one venv, the distributions every tool in it shares. */
export interface EnvSpec {
  name: EnvName;
  /** What the env is for, one line. */
  purpose: string;
  /** Distributions of the env that are no one backend's own (numpy, protobuf, pillow...). */
  requires: readonly PythonRequirement[];
}

/**
 * Memory classes of converter steps: what the process loads. Steps of a class other than
 * `light` are admitted against the build's memory budget (see MEMORY_MIB).
 */
export type MemoryClass = 'light' | 'openvino' | 'torch' | 'tensorflow';

/** Estimated peak memory (MiB) per memory class: measured peaks of the zoo's steps, rounded up. */
export const MEMORY_MIB: Readonly<Record<MemoryClass, number>> = {
  light: 0,
  openvino: 2048,
  torch: 3072,
  tensorflow: 4096,
};

/**
 * What a strategy's `when` may look at to say whether it applies to a model: the recipe's
 * inputs, the precision, and the op types of the model the backend reads (the prepared ONNX
 * model; empty for backends that read another source).
 */
export interface StrategyContext {
  precision: Precision;
  inputs: ReadonlyArray<{ name: string; shape: readonly unknown[]; layout: string; dtype?: string }>;
  /** Op types of the model the backend reads (ONNX `op_type`s), empty when unknown. */
  opTypes: ReadonlySet<string>;
  /** The recipe source's kind: `onnx`, `tflite`, `pytorch`. */
  sourceKind: string;
}

/**
 * One way of running a backend. A backend lists its strategies in the order they are worth
 * trying; the first is the default. The options are data the backend turns into its flags
 * (JSON, so they can join a cache key and artifact.json); `when` says whether the strategy can
 * change anything for a model (absent: always), so the cascade skips the ones that cannot.
 * Adding a strategy is adding one entry to a backend's list.
 */
export interface ConversionStrategy {
  /** A catalogue name (lower-case, dashes): what recipes pin in `strategies:`. */
  name: string;
  options: Readonly<Record<string, JsonValue>>;
  /** One line for logs, the recipe reference and `--help`: what it changes and when it helps. */
  description?: string;
  /** Whether trying it can help this model (a pinned strategy is tried regardless). */
  when?(ctx: StrategyContext): boolean;
}

/**
 * Which part of the road a backend serves:
 * - import: a source that is not ONNX -> ONNX (torch.onnx.export, tf2onnx);
 * - prepare: ONNX -> the prepared ONNX every target starts from (static shapes, simplified);
 * - convert: prepared ONNX (or the source itself) -> an artifact of a target format.
 */
export type BackendStage = 'import' | 'prepare' | 'convert';

/** One converter: what it reads and makes, what it needs, and the code that runs it. */
export interface BackendSpec {
  /** The `converter` of convert steps and of artifact.json: `onnx2tf`, `ovc`, `torch-onnx`... */
  name: string;
  /** A few words for the recipe reference: `any source, via ONNX`. */
  summary: string;
  stage: BackendStage;
  /** The model kind it reads: `onnx` (the prepared model), or a source kind (`pytorch`, `tflite`). */
  from: string;
  /** The format it makes (`onnx` for import and prepare backends). */
  to: string;
  precisions: readonly Precision[];
  /** The Python env that runs it; null when it runs in TypeScript. */
  env: EnvName | null;
  /** Pip distributions whose versions identify what it made (artifact.json and metadata `toolVersions`). */
  tools: readonly string[];
  /**
   * Tools whose versions key the cache of the steps that run it. A Python tool's version
   * includes its env's lock digest, so one tool per env stands for every pin of that env.
   */
  cacheKeyTools: readonly string[];
  /**
   * Bumped when the backend makes something else from the same inputs and tool versions (a new
   * default, a new strategy): it joins the keys of its convert steps only (of the prepare step,
   * for an import or prepare backend), so the change rebuilds (and retries cached failures of)
   * this backend's artifacts and nothing else. Absent: 0.
   */
  revision?: number;
  /** What it needs installed, and how doctor checks that it runs. */
  requires: readonly PythonRequirement[];
  memory: MemoryClass;
  /**
   * Set when its calibrated precisions (int8, int16-act) take the quantization search's
   * `quant-*` strategies (src/quant/search.ts) instead of its own: it reads `options.quant`.
   */
  quantSearch?: boolean;
  /** Ways to run it, the default first. */
  strategies: readonly [ConversionStrategy, ...ConversionStrategy[]];
  convert(job: ConvertJob): Promise<ConvertOutput>;
  /**
   * Set by tools that emit several precisions in one run (onnx2tf: fp32 and fp16 from one float
   * run): makes every precision of `precisions` (`job.precision` is the first), each into its
   * folder of `outDirs`; a precision it could not make is an Error value. The planner groups the
   * targets of one model such a backend makes into one convert-run step.
   */
  convertMany?(
    job: ConvertJob,
    precisions: readonly Precision[],
    outDirs: Readonly<Partial<Record<Precision, string>>>,
  ): Promise<Map<Precision, ConvertOutput | Error>>;
}

/** What inspecting an artifact found (artifact.json `inspect`). */
export interface ArtifactInspection {
  transposeCount: number;
  flexOps: string[];
  customOps: string[];
  quantizationKind: string;
  opCount: number;
}

/** What a format gets to seal a converted artifact (see `FormatSpec.finishArtifact`). */
export interface FinishArtifactContext {
  /** Absolute path of the primary file (writable: metadata goes into it). */
  primaryPath: string;
  precision: Precision;
  /** The backend that made it. */
  converter: string;
  /** What the backend recorded (layouts, renames, quantisation of inputs and outputs). */
  output: ConvertOutput;
  /** Layout of every tensor of the model the artifact was made from, by name. */
  sourceLayouts: Readonly<Record<string, string>>;
  /** The edgezoo metadata for the given layouts (artifact tensor name -> layout). */
  provenance(layouts: Record<string, string>): EdgezooModelInfo;
  log(line: string): void;
  signal: AbortSignal;
}

/** A sealed artifact: its tensors' layouts (as written into its metadata) and what is inside. */
export interface FinishedArtifact {
  layouts: Record<string, string>;
  inspection: ArtifactInspection;
}

/** What a runtime needs from the step that runs it. */
export interface RuntimeContext {
  /** A worker of `env` tied to the step (signal, log), for runtimes that run in Python. */
  worker(env: EnvName): RunnerWorker;
}

/** The runtime a user runs artifacts of a format in; validation and benchmarks use it. */
export interface RuntimeSpec {
  /** `ModelRunner.runtime` of its runners, as validation.json and benchmark.json record it. */
  name: RuntimeName;
  /** The tool whose version keys validate and benchmark steps (a pip distribution or an npm package). */
  tool: string;
  /** The env that holds `tool`; null for an npm package of edgezoo itself. */
  env: EnvName | null;
  requires: readonly PythonRequirement[];
  /** An unloaded runner with `threads` intra-op threads. */
  open(ctx: RuntimeContext, threads: number): ModelRunner;
}

/**
 * One artifact format: how to recognise and summarise its files (`ModelFormat`, for
 * `edgezoo inspect`), which files make an artifact, how edgezoo metadata goes into it, and the
 * runtime that validates it.
 */
export interface FormatSpec<Summary = unknown> extends ModelFormat<Summary> {
  /** How people write it: `TFLite`, `OpenVINO IR`. */
  title: string;
  /** What a recipe builds when it gives no `targets` (every precision that needs no calibration, or fewer). */
  defaultPrecisions: readonly Precision[];
  /**
   * Set when a recipe may choose among several backends making this format
   * (`converters: { <format>: <backend> }`): the backend used when it does not.
   */
  defaultConverter?: string;
  /**
   * Artifacts must use the runtime's builtin ops only: one whose inspection lists Flex or custom
   * ops fails its conversion unless the recipe's `allow_ops` names each (TFLite: stock LiteRT,
   * LiteRT.js and microcontrollers have no Select-TF-ops delegate).
   */
  builtinOpsOnly?: boolean;
  /** Files beside the primary one (OpenVINO's `.bin`), by extension; the zoo names them alike. */
  companionExtensions: readonly string[];
  /** Where the edgezoo metadata lives in its files (artifact.json `metadataLocation`). */
  metadataLocation: string;
  /**
   * The inspected quantisation kinds (`ArtifactInspection.quantizationKind`) an artifact of each
   * precision may have. A precision listed here whose artifact inspects as another kind is
   * mislabelled (a "dynamic-int8" that is float32): the convert step fails with that reason.
   */
  quantizationKinds?: Partial<Record<Precision, readonly string[]>>;
  /** Writes the edgezoo metadata into a converted artifact (when the backend did not) and inspects it. */
  finishArtifact(ctx: FinishArtifactContext): Promise<FinishedArtifact>;
  runtime: RuntimeSpec;
}
