import type { Precision, TargetFormat, Tolerance } from '../recipe/types.js';

/**
 * Default pass thresholds by precision, as data. A check whose field is absent is not applied
 * (its metric is still measured and reported).
 *
 * Why these values:
 * - Float models are judged on max abs error against `atol + rtol * max|reference|`: scaling by
 *   the reference's magnitude keeps one rule fair to logits of 20 and probabilities of 1e-3.
 *   fp32 differs only by op order and kernels (Winograd, fused multiply-add): rtol 1e-3 holds
 *   for deep nets yet catches a perturbed weight. fp16 has an 11-bit mantissa (relative step
 *   ~1e-3 per op, accumulating), hence rtol 2e-2 and cosine >= 0.999.
 * - Quantised models cannot be held to element-wise bounds (one LSB of an int8 output is
 *   1/256 of its range); they are judged on cosine similarity and, for classifiers, on whether
 *   they still predict what the float model predicts. int16 activations keep far more
 *   precision than int8, dynamic-int8 keeps float activations, so they sit in between.
 * - top-k agreement is the mean overlap of the reference's and the artifact's k best classes,
 *   which is stricter than top-1 on near-ties; its minimum is therefore lower than top-1's.
 * Recipes override any field under `tolerances` (by precision, or by `format/precision`).
 */
export const DEFAULT_THRESHOLDS: Readonly<Record<Precision, Readonly<Tolerance>>> = {
  fp32: { atol: 1e-4, rtol: 1e-3, cosine: 0.9999, top1: 0.99, topk: 0.95 },
  fp16: { atol: 1e-3, rtol: 2e-2, cosine: 0.999, top1: 0.95, topk: 0.9 },
  'dynamic-int8': { cosine: 0.99, top1: 0.93, topk: 0.8 },
  int8: { cosine: 0.98, top1: 0.9, topk: 0.75 },
  'int16-act': { cosine: 0.995, top1: 0.95, topk: 0.85 },
};

/**
 * The thresholds for one artifact: the defaults of its precision, overridden field by field by
 * `overrides[precision]`, then by `overrides['format/precision']` (the most specific wins).
 */
export function resolveThresholds(
  precision: Precision,
  format: TargetFormat | undefined,
  overrides: Readonly<Record<string, Tolerance>> = {},
): Tolerance {
  const layers = [
    DEFAULT_THRESHOLDS[precision],
    overrides[precision],
    format ? overrides[`${format}/${precision}`] : undefined,
  ];
  const result: Tolerance = {};
  for (const layer of layers) {
    if (!layer) continue;
    for (const [key, value] of Object.entries(layer) as Array<[keyof Tolerance, number | undefined]>) {
      if (value !== undefined) result[key] = value;
    }
  }
  return result;
}
