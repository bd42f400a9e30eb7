/**
 * The normalised recipe: what `loadRecipe` returns after the YAML has been parsed, checked
 * against the schema (src/recipe/schema.ts, the source of truth for the YAML form) and the
 * rules, and defaults applied. Every module after loading works on this shape only.
 * Paths in it are repository-relative POSIX paths that were checked to stay inside the project.
 */

import type { Precision } from '../catalogue/precisions.js';
import type { QuantSettings } from '../quant/search.js';

export { CALIBRATED_PRECISIONS, type Precision } from '../catalogue/precisions.js';

/**
 * A target format of the zoo: the name of a FormatSpec of the catalogue (src/catalogue), such as
 * `onnx`, `tflite` or `openvino`. Recipes are checked against the catalogue, so a recipe only
 * ever holds names it knows.
 */
export type TargetFormat = string;

/** Where a file comes from. Exactly one location; the sha256 is always required. */
export type FileLocation =
  | { kind: 'url'; url: string }
  | { kind: 'path'; path: string }
  /** A file inside a registry package pinned to one version, e.g. pypi `facenet-pytorch==2.6.0`. */
  | { kind: 'package'; registry: 'pypi' | 'npm'; name: string; version: string; file: string };

export interface FileSource {
  location: FileLocation;
  /** Lower-case hex sha256 of the file's bytes. */
  sha256: string;
  /** The file's size in bytes, when the recipe gives it: downloads and unpacking stop past it. */
  size?: number;
  /** ONNX only: the files holding the model's external data, fetched beside it under `name`. */
  externalData?: ExternalDataFile[];
}

/** One external-data file of an ONNX source. */
export interface ExternalDataFile {
  /** The location the .onnx file gives for it, relative to the model (a safe relative path). */
  name: string;
  file: FileSource;
}

export type ModelSource =
  | { kind: 'onnx'; file: FileSource }
  | { kind: 'tflite'; file: FileSource }
  | {
      kind: 'pytorch';
      /** Builds the nn.Module: a project file under models/ and a function in it (`models/x/model.py:build`). */
      factory: { file: string; function: string };
      /** A state dict loaded with torch.load(weights_only=True); absent when the factory loads its own. */
      weights?: FileSource;
      /** Keyword arguments passed to the factory. */
      kwargs: Record<string, unknown>;
    };

/** Axis meaning of a tensor, one letter per dim (N batch, C channels, H, W, L length, D any). */
export type Layout = string;

export type TensorDtype = 'float32' | 'float16' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';

/** A constant input's value: a number or boolean (scalar), or nested lists in the input's shape. */
export type InputValue = number | boolean | InputValue[];

export interface InputSpec {
  name: string;
  /** Numbers are fixed dims; a string is a symbolic dim, allowed only when listed in `dynamic`. */
  shape: Array<number | string>;
  /** Symbolic dims the recipe keeps dynamic on purpose. */
  dynamic: string[];
  layout: Layout;
  dtype: TensorDtype;
  /** Value range of the model input after preprocessing, used for random data and calibration. */
  range: [number, number];
  /**
   * A constant: prepare folds it into the graph (the artifacts have no such input) and the
   * reference is fed it; absent for inputs the caller feeds.
   */
  value?: InputValue;
}

export interface OutputSpec {
  name: string;
  layout?: Layout;
  /** The output holds class scores: validation reports top-1/top-k agreement on it. */
  classifier: boolean;
}

/** Applied to raw samples (images or .npy) to get model input: x = (x * scale - mean) / std. */
export interface Preprocess {
  /** Images only: resize to the input's H x W. */
  resize: boolean;
  channelOrder: 'rgb' | 'bgr';
  /** Multiplies the raw value first (1/255 turns 8-bit pixels into [0,1]). */
  scale: number;
  mean: number[];
  std: number[];
}

export interface SampleSet {
  /** A glob of repository-relative paths to .npy files or images (png/jpg). */
  samples: string;
  /** How many of the matched files to use (sorted by name, first N). */
  count: number;
}

/** onnx2tf parameter replacement (format_version 1); the same shape given inline or as a file. */
export interface ParameterReplacement {
  format_version: 1;
  operations: Array<{
    op_name: string;
    param_target: 'inputs' | 'attributes' | 'outputs' | 'op';
    param_name: string;
    values?: unknown;
    [extra: string]: unknown;
  }>;
}

/**
 * Chained validation of a stateful model: the samples, in order, run as streams of `chunks`
 * steps; in each stream every step after the first takes `feedback[output]` of the step before
 * as its input `input`, in the reference and in the artifact alike.
 */
export interface StreamValidation {
  /** Output name -> input name. */
  feedback: Record<string, string>;
  /** Steps per stream; absent: one stream of every sample. */
  chunks?: number;
}

export interface Tolerance {
  atol?: number;
  rtol?: number;
  /** Minimum cosine similarity per output. */
  cosine?: number;
  /** Minimum top-1 agreement (0..1) on classifier outputs. */
  top1?: number;
  /** Minimum top-k agreement (0..1) on classifier outputs. */
  topk?: number;
}

export interface Recipe {
  /** Lower-case letters, digits and dashes; equals the recipe file's base name. */
  name: string;
  /** Semver of this model in the zoo. */
  version: string;
  /** SPDX license identifier (or expression). */
  license: string;
  /** Repository-relative path of the license text, when the source ships one. */
  licenseFile?: string;
  description: string;
  task: string;
  homepage?: string;
  tags: string[];
  source: ModelSource;
  /** Class names of the classifier output, in index order: a repository-relative file (one per line) or inline. */
  labels?: { kind: 'path'; path: string } | { kind: 'list'; values: string[] };
  inputs: InputSpec[];
  /** Optional: names, layouts and classifier flags of outputs (defaults come from the model). */
  outputs: OutputSpec[];
  preprocess: Preprocess;
  calibration?: SampleSet;
  /** `validation.samples` is '' when the recipe names none: validate on seeded random inputs within each input's range. */
  validation: SampleSet & {
    /** k of the top-k agreement for classifier outputs. */
    topk: number;
    /** Seed for random inputs when no samples are given. */
    seed: number;
    /** Stateful models: validate on chained steps with outputs fed back as inputs. */
    stream?: StreamValidation;
  };
  /** onnx2tf-format parameter replacements, as a repository-relative JSON file or inline. */
  replacements?: { kind: 'path'; path: string } | { kind: 'inline'; value: ParameterReplacement };
  targets: Partial<Record<TargetFormat, Precision[]>>;
  /** Targets the recipe knows cannot be built, with the reason the model card shows. Keys `format/precision`. */
  skip: Record<string, string>;
  /**
   * The converters a recipe names for formats that offer a choice (`tflite`: onnx2tf or
   * litert-torch), keyed by format or `format/precision` (the more precise key wins), in the
   * order they are tried; one name pins that converter. Absent: the catalogue's routes (see
   * `recipeConverterRoutes`).
   */
  converters: Record<string, string[]>;
  /**
   * Pinned converter strategies, keyed by format or `format/precision` (the more precise key
   * wins): exactly these are tried, in order. Absent: the default, then the others after a failure.
   */
  strategies?: Record<string, string[]>;
  /** Flex / custom ops an artifact may contain, keyed by format or `format/precision` (both apply). */
  allowOps?: Record<string, string[]>;
  /** ONNX opset for exports and conversions. */
  opset: number;
  /** Prepare rewrites dynamically quantized blocks (ConvInteger/MatMulInteger) to float (absent: no). */
  dequantize?: boolean;
  /** Overrides of the default thresholds, by precision or by `format/precision`. */
  tolerances: Record<string, Tolerance>;
  /**
   * The quantization search of calibrated targets, by `format/precision` (src/quant/search.ts).
   * Optional in the type so fixtures need no edit; normalise always sets it.
   */
  quantization?: Record<string, QuantSettings>;
}

/** Where a problem is: a project-relative file, 1-based line and column. */
export interface SourcePosition {
  file: string;
  line: number;
  col: number;
}

/** One problem in a recipe; `edgezoo check` prints `file:line:col: message`. */
export interface RecipeProblem extends SourcePosition {
  code: string;
  message: string;
}
