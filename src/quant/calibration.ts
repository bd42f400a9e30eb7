/**
 * Calibration arrays stacked along each input's own batch axis. A recurrent state such as
 * Silero's `state [2, 1, 128]` (layout DND) has its batch on axis 1: stacking 64 samples on axis
 * 0 gives [128, 1, 128], and a reader slicing axis 0 feeds [1, 1, 128] to the quantizer
 * (onnx2tf's -cind does exactly that, and so did edgezoo's own ORT reader). The batch axis is the
 * `N` of the recipe layout; an input whose layout has no `N` is stacked on a new leading axis.
 */
import { allocate, elementCount, transposeLayout, type LoadedSamples, type Tensor } from '../validate/index.js';
import type { InputSpec } from '../recipe/types.js';

/** The axis samples of an input are stacked on (its layout's `N`), or null: a new leading axis. */
export function batchAxisOf(layout: string): number | null {
  const axis = layout.indexOf('N');
  return axis >= 0 ? axis : null;
}

/** Tensors of equal dims except on `axis`, concatenated along it. */
export function concatOnAxis(tensors: readonly Tensor[], axis: number): Tensor {
  const first = tensors[0];
  if (!first) throw new Error('cannot stack an empty list of tensors');
  const dims = first.dims;
  if (axis < 0 || axis >= dims.length) throw new Error(`axis ${axis} is out of range for [${dims.join(', ')}]`);
  const outer = elementCount(dims.slice(0, axis));
  const inner = elementCount(dims.slice(axis + 1));
  let total = 0;
  for (const t of tensors) {
    const same =
      t.dtype === first.dtype && t.dims.length === dims.length && t.dims.every((d, i) => i === axis || d === dims[i]);
    if (!same)
      throw new Error(
        `cannot stack a ${t.dtype} [${t.dims.join(', ')}] tensor onto ${first.dtype} [${dims.join(', ')}] on axis ${axis}`,
      );
    total += t.dims[axis]!;
  }
  const data = allocate(first.dtype, outer * total * inner) as { set(a: ArrayLike<number | bigint>, o: number): void };
  let offset = 0;
  for (let o = 0; o < outer; o++) {
    for (const t of tensors) {
      const block = t.dims[axis]! * inner;
      data.set(
        (t.data as unknown as { subarray(a: number, b: number): ArrayLike<number> }).subarray(
          o * block,
          (o + 1) * block,
        ),
        offset,
      );
      offset += block;
    }
  }
  const out = [...dims];
  out[axis] = total;
  return { dtype: first.dtype, dims: out, data } as Tensor;
}

/**
 * One input of every sample stacked on its batch axis (after an optional layout change):
 * the tensor and the axis a reader takes one sample back from (null: index a new leading axis).
 */
export function stackCalibrationInput(
  samples: LoadedSamples,
  input: InputSpec,
  layout: string = input.layout,
): { tensor: Tensor; batchAxis: number | null } {
  const tensors = samples.samples.map((sample) => {
    const tensor = sample.inputs[input.name];
    if (!tensor) throw new Error(`sample ${sample.id} has no tensor for input '${input.name}'`);
    return layout === input.layout ? tensor : transposeLayout(tensor, input.layout, layout);
  });
  const batchAxis = batchAxisOf(layout);
  if (batchAxis !== null) return { tensor: concatOnAxis(tensors, batchAxis), batchAxis };
  const lifted = tensors.map((t) => ({ ...t, dims: [1, ...t.dims] }) as Tensor);
  return { tensor: concatOnAxis(lifted, 0), batchAxis: null };
}
