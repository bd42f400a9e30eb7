import type { Tolerance } from '../recipe/types.js';

/** Figures measured on one output, over all samples. */
export interface OutputMetrics {
  /** Elements compared (the product of the output's dims, over all samples). */
  elements: number;
  maxAbsError: number;
  meanAbsError: number;
  rmse: number;
  /** Cosine similarity of the flattened outputs; 1 when both are all zeros. */
  cosine: number;
  /** max |reference|, the scale `rtol` multiplies. */
  referenceMaxAbs: number;
  /**
   * Elements where one side is NaN or infinite and the other is not the same value (both NaN
   * counts as agreement). They are left out of the error figures above and fail validation.
   */
  nonFiniteMismatches: number;
  /** The first such element: index, reference value, artifact value. */
  firstNonFinite?: { index: number; reference: number; artifact: number };
  /** Classifier outputs only: rows (samples x positions) over which agreement was counted. */
  rows?: number;
  /** Classifier outputs only: fraction of rows whose argmax agrees. */
  top1?: number;
  /** Classifier outputs only: mean overlap |topk(ref) ∩ topk(artifact)| / k over rows. */
  topk?: number;
  /** The k of `topk`. */
  k?: number;
}

/** Options of `measureOutput`. */
export interface MeasureOptions {
  /** Measure top-1/top-k agreement along `classAxisLength`-long rows (the class axis is innermost). */
  classifier?: { classes: number; k: number };
}

/**
 * Error figures of `artifact` against `reference` (same length, already in the same layout and
 * dequantised). Accumulates in float64.
 */
export function measureOutput(
  reference: Float32Array,
  artifact: Float32Array,
  options: MeasureOptions = {},
): OutputMetrics {
  if (reference.length !== artifact.length)
    throw new RangeError(`measureOutput: lengths differ (${reference.length} vs ${artifact.length})`);
  let maxAbs = 0;
  let sumAbs = 0;
  let sumSquares = 0;
  let dot = 0;
  let refNorm = 0;
  let artNorm = 0;
  let refMaxAbs = 0;
  let counted = 0;
  let nonFiniteMismatches = 0;
  let firstNonFinite: OutputMetrics['firstNonFinite'];
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i]!;
    const a = artifact[i]!;
    if (!Number.isFinite(r) || !Number.isFinite(a)) {
      const agree = r === a || (Number.isNaN(r) && Number.isNaN(a));
      if (!agree) {
        nonFiniteMismatches++;
        firstNonFinite ??= { index: i, reference: r, artifact: a };
      }
      continue;
    }
    const diff = Math.abs(a - r);
    if (diff > maxAbs) maxAbs = diff;
    sumAbs += diff;
    sumSquares += diff * diff;
    dot += r * a;
    refNorm += r * r;
    artNorm += a * a;
    if (Math.abs(r) > refMaxAbs) refMaxAbs = Math.abs(r);
    counted++;
  }
  let cosine: number;
  if (refNorm === 0 && artNorm === 0) cosine = 1;
  else if (refNorm === 0 || artNorm === 0) cosine = 0;
  else cosine = Math.min(1, dot / Math.sqrt(refNorm * artNorm));
  const metrics: OutputMetrics = {
    elements: reference.length,
    maxAbsError: maxAbs,
    meanAbsError: counted ? sumAbs / counted : 0,
    rmse: counted ? Math.sqrt(sumSquares / counted) : 0,
    cosine,
    referenceMaxAbs: refMaxAbs,
    nonFiniteMismatches,
  };
  if (firstNonFinite) metrics.firstNonFinite = firstNonFinite;
  if (options.classifier)
    Object.assign(metrics, measureAgreement(reference, artifact, options.classifier.classes, options.classifier.k));
  return metrics;
}

/** Indices of the k largest values of data[offset, offset+length), best first (NaN ranks last, ties by index). */
function topIndices(data: Float32Array, offset: number, length: number, k: number): number[] {
  const best: number[] = [];
  const value = (index: number) => {
    const v = data[offset + index]!;
    return Number.isNaN(v) ? -Infinity : v;
  };
  for (let index = 0; index < length; index++) {
    const v = value(index);
    if (best.length === k && v <= value(best[k - 1]!)) continue;
    let position = best.length;
    while (position > 0 && value(best[position - 1]!) < v) position--;
    best.splice(position, 0, index);
    if (best.length > k) best.pop();
  }
  return best;
}

function measureAgreement(reference: Float32Array, artifact: Float32Array, classes: number, requestedK: number) {
  const rows = classes > 0 ? Math.floor(reference.length / classes) : 0;
  const k = Math.max(1, Math.min(requestedK, classes));
  let top1Agree = 0;
  let overlap = 0;
  for (let row = 0; row < rows; row++) {
    const refTop = topIndices(reference, row * classes, classes, k);
    const artTop = topIndices(artifact, row * classes, classes, k);
    if (refTop[0] === artTop[0]) top1Agree++;
    const refSet = new Set(refTop);
    overlap += artTop.filter((index) => refSet.has(index)).length / k;
  }
  return { rows, top1: rows ? top1Agree / rows : 1, topk: rows ? overlap / rows : 1, k };
}

/** A number for people: six significant digits, no trailing zeros. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return '0';
  return String(Number(value.toPrecision(6)));
}

/**
 * What failed, one sentence per metric that broke its threshold, naming the metric, the
 * measured value and the threshold. Empty when every applied check holds.
 */
export function checkThresholds(metrics: OutputMetrics, thresholds: Tolerance): string[] {
  const failures: string[] = [];
  if (metrics.nonFiniteMismatches > 0 && metrics.firstNonFinite) {
    const { index, reference, artifact } = metrics.firstNonFinite;
    failures.push(
      `${metrics.nonFiniteMismatches} of ${metrics.elements} elements are NaN or infinite on one side only ` +
        `(first at index ${index}: reference ${reference}, artifact ${artifact})`,
    );
  }
  if (thresholds.atol !== undefined || thresholds.rtol !== undefined) {
    const atol = thresholds.atol ?? 0;
    const rtol = thresholds.rtol ?? 0;
    const allowed = atol + rtol * metrics.referenceMaxAbs;
    if (metrics.maxAbsError > allowed) {
      failures.push(
        `max abs error ${formatNumber(metrics.maxAbsError)} exceeds the allowed ${formatNumber(allowed)} ` +
          `(atol ${formatNumber(atol)} + rtol ${formatNumber(rtol)} × max|reference| ${formatNumber(metrics.referenceMaxAbs)})`,
      );
    }
  }
  if (thresholds.cosine !== undefined && !(metrics.cosine >= thresholds.cosine)) {
    failures.push(
      `cosine similarity ${formatNumber(metrics.cosine)} is below the minimum ${formatNumber(thresholds.cosine)}`,
    );
  }
  if (metrics.rows !== undefined && metrics.rows > 0) {
    if (thresholds.top1 !== undefined && metrics.top1 !== undefined && metrics.top1 < thresholds.top1) {
      const agreeing = Math.round(metrics.top1 * metrics.rows);
      failures.push(
        `top-1 agreement ${formatNumber(metrics.top1)} (${agreeing} of ${metrics.rows} rows) is below the minimum ${formatNumber(thresholds.top1)}`,
      );
    }
    if (thresholds.topk !== undefined && metrics.topk !== undefined && metrics.topk < thresholds.topk) {
      failures.push(
        `top-${metrics.k} agreement ${formatNumber(metrics.topk)} is below the minimum ${formatNumber(thresholds.topk)}`,
      );
    }
  }
  return failures;
}
