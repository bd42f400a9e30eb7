/**
 * The precisions artifacts are built in, in the order people read them. A format offers the
 * precisions its converter backends make (see `Catalogue.precisionsOf`); adding a precision
 * here makes the compiler point at every table keyed by precision (thresholds, ...).
 */
export const PRECISIONS = [
  { name: 'fp32', calibrated: false, summary: 'float weights and activations' },
  { name: 'fp16', calibrated: false, summary: 'float16 weights (float32 inputs and outputs kept)' },
  { name: 'dynamic-int8', calibrated: false, summary: 'int8 weights, float activations' },
  { name: 'int8', calibrated: true, summary: 'full integer with calibration' },
  { name: 'int16-act', calibrated: true, summary: 'int16 activations, int8 weights' },
] as const;

/**
 * Precisions, by what people deploy:
 * - fp32, fp16: float weights and activations (fp16 keeps float32 inputs/outputs);
 * - dynamic-int8: int8 weights, float activations (ONNX quantize_dynamic, TFLite dynamic range);
 * - int8: full integer with calibration (ONNX static QDQ per-channel; TFLite full-integer with
 *   int8 inputs and outputs);
 * - int16-act: TFLite full-integer with int16 activations and int8 weights.
 */
export type Precision = (typeof PRECISIONS)[number]['name'];

/** Every precision name, in reading order. */
export const PRECISION_NAMES: readonly Precision[] = PRECISIONS.map((p) => p.name);

/** Precisions that need calibration samples. */
export const CALIBRATED_PRECISIONS: readonly Precision[] = PRECISIONS.filter((p) => p.calibrated).map((p) => p.name);

/** True for a known precision name. */
export function isPrecision(name: string): name is Precision {
  return (PRECISION_NAMES as readonly string[]).includes(name);
}
