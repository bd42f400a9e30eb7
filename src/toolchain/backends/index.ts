/**
 * Converter backends: one module per tool, all typed against `ConverterBackend`, picked by the
 * registry. The prepare and convert step runners (src/build/runners) are their callers.
 */
export type {
  CalibrationArrays,
  ConverterBackend,
  ConvertJob,
  ConvertOutput,
  ModelKind,
  PreparedSignature,
  TorchSource,
} from './types.js';
export { CONVERTER_BACKENDS, NoBackendError, convertBackend, prepareBackends } from './registry.js';
export { ConverterError, keyLogLines, runConverterOp, stepLogFile, unsupportedOpLines } from './run-tool.js';
export { ONNX2TF_REPLACEMENTS_FILE } from './onnx-prepare.js';
export { tfliteSignature } from './onnx2tf.js';
export { channelsLast, convertedLayout, defaultLayout } from './layouts.js';
