/**
 * Honest labels: an artifact's precision must be what inspecting its bytes finds. A converter
 * that skips what it cannot quantise (TFLite's dynamic range leaves weights under 1024 elements
 * in float) can hand back the float32 model unchanged; published as "dynamic-int8" it would be
 * validated, benchmarked and downloaded as something it is not.
 */
import type { FormatSpec } from '../catalogue/types.js';
import type { Precision } from '../catalogue/precisions.js';

/**
 * Why an artifact inspected as `kind` cannot carry the label `precision` of its format, or
 * undefined when it can (or the format declares no kinds for that precision).
 */
export function labelProblem(
  format: Pick<FormatSpec, 'name' | 'title' | 'quantizationKinds'>,
  precision: Precision,
  kind: string,
): string | undefined {
  const allowed = format.quantizationKinds?.[precision];
  if (!allowed || allowed.includes(kind)) return undefined;
  const converterNote =
    kind === 'float32' && precision !== 'fp32'
      ? ': the converter quantised nothing (no layer it quantises for this precision, or all below its size threshold)'
      : '';
  return `mislabelled artifact: a ${format.title} ${precision} must inspect as ${allowed.join(' or ')}, this one is ${kind}${converterNote}; it is not published under that label`;
}
