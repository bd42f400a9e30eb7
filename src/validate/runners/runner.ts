import type { QuantizationParams } from '../transforms.js';
import type { Dtype, Tensor } from '../tensor.js';

/** The runtimes an artifact or a reference runs in. */
export type RuntimeName = 'onnxruntime' | 'litert' | 'openvino' | 'pytorch';

/** One input or output of a loaded model, as its runtime reports it. */
export interface TensorInfo {
  name: string;
  /** Numbers are fixed dims; strings (or -1 from some runtimes, reported as '?') are dynamic. */
  dims: Array<number | string>;
  dtype: Dtype;
  /** Set for quantised integer tensors (TFLite full-integer inputs and outputs). */
  quantization?: QuantizationParams;
}

/**
 * A model loaded in a runtime. Implementations: `OnnxRuntimeRunner` (in process) and
 * `WorkerModelRunner` (LiteRT, OpenVINO, PyTorch through the Python worker).
 * Feeds and results are keyed by the runtime's own tensor names.
 */
export interface ModelRunner {
  readonly runtime: RuntimeName;
  /** Loads (and compiles) the model; must be called once before the others. */
  load(modelPath: string): Promise<void>;
  inputs(): TensorInfo[];
  outputs(): TensorInfo[];
  /** Runs once. Feeds must already have each input's dtype (see `prepareFeeds`). */
  run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
  /** Frees the model; the runner is unusable afterwards. */
  dispose(): Promise<void>;
}

/** Options every runner takes. */
export interface RunnerOptions {
  /** Intra-op threads; default 1 (reproducible timings; the benchmark asks for more explicitly). */
  threads?: number;
}
