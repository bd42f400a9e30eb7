/**
 * Bounds on tensor sizes and sample counts, checked before a build starts: a shape or a count
 * too large for this machine used to pass `check` and end the build in an internal error (a
 * typed array that cannot be allocated, a worker killed for memory). The bounds are the
 * machine's, so they are computed from its memory; the rule itself is a pure function of it.
 */
import os from 'node:os';
import { formatBytes } from '../util/format.js';
import { isMapping, ProblemCode, type NodePart, type ProblemCodeValue, type ValuePath } from './problems.js';

/** Elements one tensor may hold: TFLite and onnxruntime index tensors with 32-bit integers. */
export const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;
/** Samples a validation or calibration set may use: more only makes the build slower. */
export const MAX_SAMPLE_COUNT = 10_000;

/** What this machine allows: one sample (every input) and one set of samples, in bytes. */
export interface SizeLimits {
  /** The machine's memory, for messages. */
  memoryBytes: number;
  /** One sample of every input: a sixteenth of the memory (the source, the artifact and copies run on it). */
  sampleBytes: number;
  /** A whole validation or calibration set, held together while quantising: a quarter of the memory. */
  setBytes: number;
}

/** The limits of a machine with `memoryBytes` of memory (default: this one). */
export function sizeLimits(memoryBytes: number = os.totalmem()): SizeLimits {
  return { memoryBytes, sampleBytes: Math.floor(memoryBytes / 16), setBytes: Math.floor(memoryBytes / 4) };
}

const DTYPE_BYTES: Readonly<Record<string, number>> = {
  float64: 8,
  float32: 4,
  float16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

type Report = (path: ValuePath, part: NodePart, code: ProblemCodeValue, message: string) => void;

/**
 * Reports each input whose fixed dims hold more elements than a tensor may, or whose sample does
 * not fit the machine, and each sample count whose set does not. Named (dynamic) dims count as 1;
 * values of the wrong type are the schema's to report.
 */
export function checkSizes(recipe: Record<string, unknown>, report: Report, limits: SizeLimits = sizeLimits()): void {
  if (!Array.isArray(recipe.inputs)) return;
  let sampleBytes = 0;
  let everyShapeKnown = true;
  recipe.inputs.forEach((input: unknown, index) => {
    if (!isMapping(input) || !Array.isArray(input.shape)) {
      everyShapeKnown = false;
      return;
    }
    const dims = input.shape.filter(
      (dim): dim is number => typeof dim === 'number' && Number.isInteger(dim) && dim > 0,
    );
    if (dims.some((dim) => dim > MAX_TENSOR_ELEMENTS)) {
      everyShapeKnown = false; // The schema reports the dim itself.
      return;
    }
    const elements = dims.reduce((product, dim) => product * dim, 1);
    const at: ValuePath = ['inputs', index, 'shape'];
    if (elements > MAX_TENSOR_ELEMENTS) {
      report(
        at,
        'value',
        ProblemCode.sizeLimit,
        `${dims.join(' x ')} is ${elements.toPrecision(3)} elements, more than a tensor may hold (${MAX_TENSOR_ELEMENTS}: runtimes index tensors with 32-bit integers)`,
      );
      everyShapeKnown = false;
      return;
    }
    const bytes = elements * (DTYPE_BYTES[typeof input.dtype === 'string' ? input.dtype : 'float32'] ?? 4);
    if (bytes > limits.sampleBytes) {
      report(
        at,
        'value',
        ProblemCode.sizeLimit,
        `one sample of this input is ${formatBytes(bytes)}, more than this machine can validate (a sample may take a sixteenth of its ${formatBytes(limits.memoryBytes)} of memory, ${formatBytes(limits.sampleBytes)})`,
      );
      everyShapeKnown = false;
      return;
    }
    sampleBytes += bytes;
  });
  if (!everyShapeKnown || sampleBytes === 0) return;
  for (const set of ['validation', 'calibration'] as const) {
    const section = recipe[set];
    if (!isMapping(section) || typeof section.count !== 'number' || !Number.isInteger(section.count)) continue;
    if (section.count > MAX_SAMPLE_COUNT) continue; // The schema reports it.
    const total = section.count * sampleBytes;
    if (total > limits.setBytes)
      report(
        [set, 'count'],
        'value',
        ProblemCode.sizeLimit,
        `${section.count} samples of ${formatBytes(sampleBytes)} are ${formatBytes(total)}, more than this machine holds for a sample set (a quarter of its ${formatBytes(limits.memoryBytes)} of memory, ${formatBytes(limits.setBytes)}); lower the count`,
      );
  }
}
