/**
 * ONNX in TypeScript: decode/encode ModelProto (zero-copy raw_data, external data checked to stay
 * in the model's folder), inspect, pure patches, and a builder for tests and fixtures.
 */
export { OnnxFormatError, OnnxPatchError } from './errors.js';
export {
  MAX_PROTO_BYTES,
  allTensors,
  externalDataLocations,
  decodeModel,
  encodeModel,
  loadModel,
  resolveExternalData,
  safeExternalPath,
  saveModel,
  type EncodeOptions,
  type ExternalDataOptions,
  type LoadOptions,
  type SaveOptions,
  type SavedModel,
} from './codec.js';
export {
  attribute,
  buildModel,
  node,
  valueInfo,
  type BuildModelSpec,
  type BuilderAttribute,
  type BuilderDim,
  type BuilderInitializer,
  type BuilderNode,
  type BuilderValue,
} from './builder.js';
export {
  allNodes,
  describeOnnxSummary,
  inspectModel,
  likelyImageLayout,
  quantizationKind,
  type OnnxQuantizationKind,
  type OnnxSummary,
  type OnnxTensorSignature,
} from './inspect.js';
export {
  applyReplacements,
  cloneModel,
  dropUnusedInitializers,
  edgezooMetadata,
  fixDynamicDims,
  foldConstantInputs,
  renameTensors,
  sanitizeNodeNames,
  setMetadata,
  type EdgezooModelInfo,
  type SanitizedNodeNames,
  type Onnx2tfOnlyReplacement,
  type ReplacementResult,
} from './patch.js';
export {
  BUILTIN_MATH_OPS,
  castLikeToCast,
  decomposeDynamicClip,
  decomposeFloatMod,
  decomposeToBuiltinMath,
  dropNoopSliceAxes,
  explicitKernelShape,
  explicitSamePads,
  explicitSplitSizes,
  explicitRecurrentStates,
  gatherElementsAsGather,
  scatterReductionsAsGathers,
  inferElementTypes,
  poolsAsSlices,
  type GraphRewriteResult,
} from './rewrites.js';
export { dtypeFromName, dtypeName, tensorByteLength, tensorFromArray, tensorValues } from './tensor.js';
export { AttributeProto_AttributeType, TensorProto_DataType, ONNX_SCHEMA_SOURCE } from './onnx-proto.generated.js';
export type {
  AttributeProto,
  GraphProto,
  ModelProto,
  NodeProto,
  TensorProto,
  TypeProto,
  ValueInfoProto,
} from './onnx-proto.generated.js';
export type { Int64 } from './wire.js';

import { loadModel } from './codec.js';
import { describeOnnxSummary, inspectModel, type OnnxSummary } from './inspect.js';

/** The ONNX entry of the formats registry (src/formats/index.ts): recognise, inspect, print. */
export const onnxFormat = {
  name: 'onnx' as const,
  extensions: ['.onnx'] as const,
  /**
   * ONNX has no magic number. Every exporter writes ir_version (field 1, varint: byte 0x08) first,
   * followed by a small version number.
   */
  match: (bytes: Uint8Array): boolean => bytes.length > 1 && bytes[0] === 0x08 && bytes[1]! > 0 && bytes[1]! < 0x40,
  /** Weights in external data are not read: the summary only needs their dims. */
  inspect: async (path: string): Promise<OnnxSummary> => inspectModel(loadModel(path, { loadExternalData: false })),
  formatSummary: (summary: OnnxSummary): string[] => describeOnnxSummary(summary),
};
