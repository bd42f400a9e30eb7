/**
 * What the planner gives each kind of step: the params of `PlannedStepOf<K>`. Runners read
 * them as typed here and nothing else of the recipe (the params are what the fingerprint
 * covers). Everything is JSON: params are hashed as canonical JSON.
 */
import type { Precision } from '../catalogue/precisions.js';
import type { QuantSettings } from '../quant/search.js';
import type {
  FileSource,
  InputSpec,
  ModelSource,
  OutputSpec,
  Preprocess,
  Recipe,
  SampleSet,
  TargetFormat,
  Tolerance,
} from '../recipe/types.js';

/** The source as steps see it: what identifies it, never where it lies on disk. */
export type SourceParams =
  | {
      kind: 'pytorch';
      factory: { file: string; function: string };
      kwargs: Record<string, unknown>;
      weightsSha256: string | null;
    }
  | { kind: 'onnx' | 'tflite'; sha256: string };

/** What converters write into every artifact's metadata besides the source identity. */
export interface ProvenanceParams {
  version: string;
  license: string;
}

/**
 * fetch: the source file (or PyTorch weights) to bring, verified by sha256. No model name: the
 * output is the file named by its sha256, so recipes sharing a source share one cache entry.
 */
export interface FetchParams {
  file: FileSource;
  role: 'weights' | 'source';
  sourceKind: ModelSource['kind'];
}

/** prepare: the source as one static-shaped, simplified fp32 ONNX model. */
export interface PrepareParams {
  model: string;
  source: SourceParams;
  inputs: InputSpec[];
  outputs: OutputSpec[];
  opset: number;
  replacements: NonNullable<Recipe['replacements']> | null;
  /** Written into the artifact's metadata, so part of what the step makes. */
  provenance: ProvenanceParams;
  /** Rewrite dynamically quantized blocks to float (absent when false: keeps other prepare keys as they were). */
  dequantize?: true;
  /** The `revision` of each backend of the prepare chain that has one (absent when none has). */
  revisions?: Record<string, number>;
}

/** convert: one artifact (format x precision) through the backend `converter` of the catalogue. */
export interface ConvertParams {
  model: string;
  format: TargetFormat;
  precision: Precision;
  /** The backend's name (src/catalogue): the route the conversion starts with. */
  converter: string;
  /**
   * Every converter that may make the target, in the order they are tried (`converter` first),
   * when there is more than one (tflite/fp32 of a PyTorch source: onnx2tf, then litert-torch).
   * Each after the first is the next strategy of the cascade, tried only after the ones before fail.
   */
  routes?: string[];
  /** The `revision` of each route after the first that has one (see `BackendSpec.revision`). */
  routeRevisions?: Record<string, number>;
  /** What the backend reads: `onnx` (the prepared model) or the source's own kind. */
  from: string;
  inputs: InputSpec[];
  outputs: OutputSpec[];
  opset: number;
  provenance: ProvenanceParams;
  /** Calibrated precisions only. */
  calibration?: SampleSet;
  /** Calibrated precisions only. */
  preprocess?: Preprocess;
  /** Calibrated precisions only: the recipe's `quantization:` entry for the target, if any. */
  quantization?: QuantSettings;
  /** Calibrated targets of a backend the quantization search drives: the search's revision (src/quant/search.ts). */
  quantSearch?: number;
  /** Backends that read the source itself (not the prepared ONNX) only. */
  source?: SourceParams;
  /** The recipe's pinned strategies for this target (`strategies:`), or null: default first, others after a failure. */
  strategies: string[] | null;
  /** The backend's `revision`, when it has one (its code changed what it makes). */
  revision?: number;
  /** Flex / custom ops the recipe allows in this artifact (`allow_ops:`); others fail it. */
  allowOps: string[];
  /**
   * What the judge of each attempt validates with: exactly the validate step's params (absent:
   * no numeric judge, only the structural one). The convert step then depends on the reference step.
   */
  judge?: ValidateParams;
  /** Set when the artifact comes from a grouped converter run: that convert-run step's id (its only dependency). */
  run?: string;
}

/**
 * convert-run: one converter run making several precisions of one format (onnx2tf's float run
 * makes fp32 and fp16); each precision's convert step takes its artifact from it.
 */
export type ConvertRunParams = Omit<
  ConvertParams,
  'precision' | 'allowOps' | 'judge' | 'run' | 'routes' | 'routeRevisions'
> & {
  precisions: Precision[];
  /** What differs per precision: allowed ops, the judge's validation params, the converters after the first. */
  byPrecision: Partial<
    Record<
      Precision,
      { allowOps: string[]; judge: ValidateParams; routes?: string[]; routeRevisions?: Record<string, number> }
    >
  >;
};

/**
 * reference: the source model run by its own runtime (onnxruntime, LiteRT, PyTorch) on the
 * validation samples, once per model; every validate step of the model compares against it.
 */
export interface ReferenceParams {
  model: string;
  source: SourceParams;
  inputs: InputSpec[];
  outputs: OutputSpec[];
  preprocess: Preprocess;
  /**
   * Which samples (or, with none, the seed of the random inputs) and how they are chained
   * (`stream`); not `topk`, which only judging uses.
   */
  samples: Pick<Recipe['validation'], 'samples' | 'count' | 'seed' | 'stream'>;
}

/** The two tolerance overrides that apply to one artifact. */
export interface ToleranceParams {
  byPrecision: Tolerance | null;
  byTarget: Tolerance | null;
}

/** validate: one artifact against the reference step's outputs, on the same samples. */
export interface ValidateParams {
  model: string;
  format: TargetFormat;
  precision: Precision;
  inputs: InputSpec[];
  outputs: OutputSpec[];
  preprocess: Preprocess;
  validation: Recipe['validation'];
  tolerance: ToleranceParams;
}

/** benchmark: one artifact's latency and memory in its runtime. */
export interface BenchmarkParams {
  model: string;
  format: TargetFormat;
  precision: Precision;
  inputs: InputSpec[];
}

/** One artifact the package step lists, with the ids of the steps that made and judged it. */
export interface PackagedTarget {
  format: TargetFormat;
  precision: Precision;
  convert: string;
  validate: string;
  /** Absent when the build runs no benchmarks (`--no-benchmark`). */
  benchmark?: string;
}

/** package: one model version of the zoo. */
export interface PackageParams {
  model: string;
  recipe: Recipe;
  artifacts: PackagedTarget[];
  skipped: Array<{ target: string; reason: string }>;
}

/** The params of each step kind. */
export interface StepParamsByKind {
  fetch: FetchParams;
  prepare: PrepareParams;
  convert: ConvertParams;
  'convert-run': ConvertRunParams;
  reference: ReferenceParams;
  validate: ValidateParams;
  benchmark: BenchmarkParams;
  package: PackageParams;
}
