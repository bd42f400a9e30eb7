/**
 * Validation and benchmarks: sample sets (npy/images, preprocessing, seeded random fallback),
 * tensor transforms (layouts, quantisation, float16), runners behind one interface
 * (onnxruntime-node in process; LiteRT, OpenVINO and PyTorch through the Python worker),
 * comparison with thresholds as data, benchmarks, and `diagnoseOnnx` / `diagnoseConverted` for failed ONNX / TFLite and OpenVINO artifacts.
 *
 * Typical use by the build's validate step:
 * ```ts
 * const samples = await loadSamples(recipe, projectRoot, 'validation');
 * const reference = await runReference(referenceRunner, samples, recipe);
 * const verdict = await validateArtifact({ recipe, samples, reference, runner, format, precision, signature });
 * ```
 */
export { NpyFormatError, RunnerError, SampleError, TensorError, ValidateError } from './errors.js';
export {
  DTYPE_BYTES,
  allocate,
  concatBatch,
  elementCount,
  formatDims,
  isFloatDtype,
  makeTensor,
  toFloat32,
} from './tensor.js';
export type { Dtype, DtypeArrays, Tensor, TensorData } from './tensor.js';
export { float16ToFloat32, float32ToFloat16, floatToHalfBits, halfBitsToFloat } from './half.js';
export { decodeNpy, encodeNpy, readNpy, writeNpy } from './npy.js';
export {
  castTensor,
  dequantize,
  layoutPermutation,
  permuteDims,
  quantize,
  transpose,
  transposeLayout,
  type QuantizationParams,
  type QuantizedDtype,
} from './transforms.js';
export { DEFAULT_THRESHOLDS, resolveThresholds } from './thresholds.js';
export { checkThresholds, formatNumber, measureOutput, type MeasureOptions, type OutputMetrics } from './metrics.js';
export {
  compareOutputs,
  matchOutputs,
  type CompareOptions,
  type ComparedOutput,
  type ComparedOutputs,
  type ComparisonResult,
  type MatchRule,
  type OutputComparison,
  type OutputMatch,
} from './compare.js';
export { loadOutputs, saveOutputs } from './outputs-store.js';
export { seededRandom } from './random.js';
export {
  checkSampleSetsDisjoint,
  loadSamples,
  sampleFiles,
  stackSampleInput,
  syntheticSamples,
  constantTensor,
  type LoadedSamples,
  type Sample,
  type SampleSetKind,
} from './samples.js';
export type { ModelRunner, RunnerOptions, RuntimeName, TensorInfo } from './runners/runner.js';
export { OnnxRuntimeRunner } from './runners/onnxruntime.js';
export {
  WorkerModelRunner,
  type RunnerWorker,
  type WorkerBenchmarkReply,
  type WorkerRunnerOptions,
} from './runners/worker.js';
export {
  prepareFeeds,
  runReference,
  runSamples,
  validateArtifact,
  plainTensorName,
  type TensorBinding,
  type ArtifactSignature,
  type ArtifactValidation,
  type ValidateArtifactOptions,
} from './run.js';
export { artifactOutputsAsSource, feedBack, startsStream, type StreamRun } from './stream.js';
export {
  benchmarkModel,
  latencyFigures,
  defaultThreadCounts,
  percentile,
  type BenchmarkOptions,
  type BenchmarkResult,
  type BenchmarkRun,
} from './benchmark.js';
export {
  diagnoseConverted,
  diagnoseOnnx,
  matchIntermediates,
  type ArtifactIntermediate,
  type ConvertedDiagnoseOptions,
  type DiagnoseOptions,
  type OnnxDiagnosis,
  type TensorDivergence,
} from './diagnose.js';
export {
  channelsLastPerm,
  fittingPerms,
  identityPerm,
  invertPerm,
  isIdentityPerm,
  permutedLayout,
  permuteShape as permuteDimsBy,
  settleOutputPermutation,
  bestOutputPermutation,
  toArtifactOrder,
  toSourceOrder,
  toSourceOrderStacked,
} from './binding.js';
