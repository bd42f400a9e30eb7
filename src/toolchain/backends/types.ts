/**
 * What a converter backend (a `BackendSpec` of src/catalogue) gets and gives: `ConvertJob` in,
 * `ConvertOutput` out. The prepare and convert step runners (src/build/runners) pick backends
 * through the catalogue and do everything around them: metadata, inspection, artifact.json.
 */
import type { ConversionStrategy } from '../../catalogue/types.js';
import type { JsonValue } from '../../plan/types.js';
import type { InputSpec, OutputSpec, ParameterReplacement, Precision } from '../../recipe/types.js';
import type { ArtifactSignature } from '../../validate/index.js';
import type { TorchSource } from '../protocol/index.js';

/**
 * Calibration data staged for a backend: per recipe input, samples stacked on the input's batch
 * axis (`batchAxis`: the `N` of its layout; a state [2,1,128] of layout DND is stacked on axis 1).
 */
export interface CalibrationArrays {
  /** Recipe input name -> .npy in the recipe's layout (e.g. NCHW), float32, preprocessed. */
  byInput: Record<string, string>;
  /** Recipe input name -> the axis of `byInput` its samples are stacked on (null: a new leading axis). */
  batchAxis: Record<string, number | null>;
  /** Recipe input name -> .npy in NHWC (stacked on axis 0), for 4-D NCHW image inputs (what onnx2tf wants). */
  nhwcByInput: Record<string, string>;
  count: number;
}

/** prepare.json: the prepared ONNX model's inputs and outputs (the contract with convert). */
export interface PreparedSignature {
  inputs: Array<{ name: string; dtype: string; shape: Array<number | string | null>; layout: string }>;
  outputs: Array<{ name: string; dtype: string; shape: Array<number | string | null>; layout?: string }>;
}

/** The PyTorch source as the torch ops want it (defined by the worker protocol). */
export type { TorchSource } from '../protocol/index.js';

/** What a backend gets. Everything in it derives from the step's params and input folders. */
export interface ConvertJob {
  /** For messages: `tiny-cnn/convert/tflite/int8`. */
  stepId: string;
  model: string;
  precision: Precision;
  /** The input model file (prepared ONNX, fetched TFLite), absent for PyTorch sources. */
  inputFile?: string;
  /** For inputs made by prepare: its prepare.json. */
  prepared?: PreparedSignature;
  /** PyTorch sources: how to build the module. */
  torchSource?: TorchSource;
  inputs: InputSpec[];
  outputs: OutputSpec[];
  opset: number;
  /** Present for calibrated precisions. */
  calibration?: CalibrationArrays;
  /** Prepare only: the recipe's parameter replacements. */
  replacements?: ParameterReplacement;
  /** Prepare only: rewrite dynamically quantized blocks (ConvInteger/MatMulInteger) to float. */
  dequantize?: boolean;
  /** onnx2tf parameter replacement entries ONNX patching could not apply (a JSON file). */
  onnx2tfReplacementFile?: string;
  /**
   * The edgezoo metadata (key -> string) for backends that must embed it while writing (OpenVINO
   * rt_info); ONNX and TFLite metadata is written afterwards by the convert runner.
   */
  metadata?: Record<string, string>;
  /** An empty folder for the artifact files (and nothing else the artifact does not need). */
  outDir: string;
  /** A private scratch folder, deleted after the step. */
  workDir: string;
  /** How to run the backend: one of its `strategies` (the default unless a cascade picked another). */
  strategy: ConversionStrategy;
  log: (line: string) => void;
  signal: AbortSignal;
  /** Updated with the peak resident memory (MiB) of the worker processes running the job's ops. */
  memory?: { peakMb: number };
  /**
   * Where the quantization search keeps its pieces across builds (src/quant/attempt-cache.ts):
   * the build cache folder and the convert step's fingerprint.
   */
  attemptCache?: { dir: string; key: string };
}

/** What a backend made. */
export interface ConvertOutput {
  /** The main file, relative to outDir (`model.tflite`, `model.xml`, `model.onnx`). */
  primary: string;
  /** Every file of the artifact, relative to outDir, primary first. */
  files: string[];
  /** Layouts, renames and I/O quantisation the validator needs (artifact tensor names). */
  signature: ArtifactSignature;
  /** Source output name -> artifact output name, when the backend knows the pairing. */
  outputMapping?: Record<string, string>;
  /** Size of the fp32 artifact of the same format when the backend made or saw one. */
  fp32Bytes?: number;
  /** Facts worth keeping in artifact.json (e.g. which onnx2tf file was taken). */
  notes?: Record<string, JsonValue>;
}
