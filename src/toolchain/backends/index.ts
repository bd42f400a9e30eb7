/**
 * Converter backends: one module per tool, each a `BackendSpec` of the catalogue
 * (src/catalogue), which picks them. The prepare and convert step runners (src/build/runners)
 * are their callers.
 */
export type {
  CalibrationArrays,
  ConvertJob,
  ConvertOutput,
  PreparedSignature,
  TorchSource,
} from './types.js';
export { ConverterError, keyLogLines, runConverterOp, stepLogFile, unsupportedOpLines } from './run-tool.js';
export { ONNX2TF_REPLACEMENTS_FILE } from './onnx-prepare.js';
export { tfliteSignature } from './onnx2tf.js';
export { channelsLast, convertedLayout, defaultLayout } from './layouts.js';
