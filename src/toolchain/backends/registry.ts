/** Picks the backend of a step: convert steps by their planned `converter`, prepare by source kind. */
import { EdgezooError } from '../../errors.js';
import type { Precision } from '../../recipe/types.js';
import { litertTorchBackend } from './litert-torch.js';
import { onnx2tfBackend } from './onnx2tf.js';
import { onnxPrepareBackend } from './onnx-prepare.js';
import { onnxFp32Backend, onnxruntimeQuantizeBackend } from './onnx-quantize.js';
import { ovcBackend } from './ovc.js';
import { torchOnnxBackend } from './pytorch-onnx.js';
import { tf2onnxBackend } from './tf2onnx.js';
import type { ConverterBackend, ModelKind } from './types.js';

/** Every backend, convert and prepare roads alike. */
export const CONVERTER_BACKENDS: readonly ConverterBackend[] = [
  torchOnnxBackend,
  tf2onnxBackend,
  onnxPrepareBackend,
  onnxFp32Backend,
  onnxruntimeQuantizeBackend,
  onnx2tfBackend,
  litertTorchBackend,
  ovcBackend,
];

/** No backend does what a step asks (a planner/registry mismatch, or a precision the tool lacks). */
export class NoBackendError extends EdgezooError {
  constructor(what: string) {
    const known = CONVERTER_BACKENDS.map((b) => `${b.name} (${b.from} -> ${b.to}: ${b.precisions.join(', ')})`).join(
      '; ',
    );
    super('NO_CONVERTER_BACKEND', `no converter backend for ${what}; known: ${known}`);
  }
}

/** The backend a convert step names (`params.converter`), checked to offer the precision. */
export function convertBackend(converter: string, precision: Precision): ConverterBackend {
  // onnx fp32 is planned as converter "edgezoo" (the prepared model plus metadata).
  const backend = CONVERTER_BACKENDS.find(
    (b) => b.name === converter && b.precisions.includes(precision) && b.name !== 'onnx-prepare',
  );
  if (!backend) throw new NoBackendError(`converter "${converter}" at ${precision}`);
  return backend;
}

/** The backends a prepare step runs, in order: source -> ONNX (when not ONNX already), then onnx-prepare. */
export function prepareBackends(sourceKind: ModelKind): ConverterBackend[] {
  switch (sourceKind) {
    case 'onnx':
      return [onnxPrepareBackend];
    case 'pytorch':
      return [torchOnnxBackend, onnxPrepareBackend];
    case 'tflite':
      return [tf2onnxBackend, onnxPrepareBackend];
    default:
      throw new NoBackendError(`preparing a ${sourceKind} source`);
  }
}
