/**
 * TFLite/LiteRT models: a bounds-checked flatbuffer reader, `inspect` summaries, and a metadata
 * writer that adds or replaces one entry while keeping the model byte-identical otherwise.
 */
import { formatTfliteSummary, inspectTflite, type TfliteSummary } from './inspect.js';
import { looksLikeTflite } from './reader.js';

export { TfliteFormatError, TfliteUnsupportedError } from './errors.js';
export {
  readTflite,
  looksLikeTflite,
  bufferBytes,
  metadataBytes,
  TFLITE_FILE_IDENTIFIER,
  type ReadTfliteOptions,
  type TfliteModel,
  type TfliteSubgraph,
  type TfliteTensor,
  type TfliteOperator,
  type TfliteOperatorCode,
  type TfliteBuffer,
  type TfliteQuantization,
  type TfliteMetadataEntry,
  type TfliteSignatureDef,
  type TfliteTensorMap,
} from './reader.js';
export {
  inspectTflite,
  summarizeTflite,
  formatTfliteSummary,
  quantizationKind,
  likelyImageLayout,
  EDGEZOO_METADATA_NAME,
  type TfliteSummary,
  type TfliteTensorSignature,
  type TfliteQuantizationKind,
} from './inspect.js';
export { readTfliteFile, MAX_FLATBUFFER_BYTES, type TfliteFileHead } from './file.js';
export {
  withTfliteMetadata,
  writeTfliteMetadata,
  planMetadataWrite,
  applyMetadataWritePlan,
  type MetadataWritePlan,
} from './metadata-writer.js';
export {
  buildTfliteModel,
  type TfliteModelSpec,
  type TensorSpec,
  type OperatorSpec,
  type OperatorCodeSpec,
  type SubgraphSpec,
  type BufferSpec,
} from './build-model.js';

/** The TFLite entry of the formats registry: recognise, inspect, and print a summary. */
export const tfliteFormat = {
  name: 'tflite' as const,
  extensions: ['.tflite'] as const,
  /** True for a TFLite flatbuffer (file identifier "TFL3" at bytes 4..8). */
  match: (bytes: Uint8Array): boolean => looksLikeTflite(bytes),
  inspect: (path: string): Promise<TfliteSummary> => inspectTflite(path),
  formatSummary: (summary: TfliteSummary): string[] => formatTfliteSummary(summary),
};
export { flattenBiasShapes, BIAS_INPUT, type BiasReshape } from './bias-shape.js';
export * as tfliteFixtures from './fixtures.js';
