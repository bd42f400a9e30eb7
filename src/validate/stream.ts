/**
 * Chained validation of stateful models (a recipe's `validation.stream`): the samples run in
 * order as streams of `chunks` steps, and every step after the first of a stream takes the
 * outputs named in `feedback` of the step before as inputs (a recurrent state). The reference and
 * the artifact each run their own chain, so an artifact whose state drifts, is bound to the wrong
 * input, or is ignored fails even when every single step on the samples' own states agrees.
 */
import type { InputSpec, StreamValidation } from '../recipe/types.js';
import { TensorError } from './errors.js';
import type { Sample } from './samples.js';
import { elementCount, formatDims, isFloatDtype, type Tensor } from './tensor.js';
import { castTensor, dequantize, transposeLayout, type QuantizationParams } from './transforms.js';

/** How `runSamples` chains its samples. */
export interface StreamRun {
  spec: StreamValidation;
  /**
   * The runner's results of one step as the source names them, in the source's axis order and
   * float: what is fed back. Absent: the results as they are (a reference runs the source itself).
   */
  asSource?: (results: Record<string, Tensor>) => Record<string, Tensor>;
}

/** Whether sample `index` (in load order) starts a new stream: it then runs on its own inputs. */
export function startsStream(index: number, spec: StreamValidation): boolean {
  return spec.chunks === undefined ? index === 0 : index % spec.chunks === 0;
}

const squeezed = (dims: readonly number[]) => dims.filter((dim) => dim !== 1);

/**
 * `sample` with each fed-back input replaced by the output of the step before (`previous`, by
 * source output name). The output takes the input's dims when it has them, or the same dims up to
 * axes of size 1 (a reshape: the element order is the same); anything else is a TensorError
 * naming both shapes.
 */
export function feedBack(
  sample: Sample,
  previous: Readonly<Record<string, Tensor>>,
  spec: StreamValidation,
  inputs: readonly InputSpec[],
): Sample {
  const fed: Record<string, Tensor> = { ...sample.inputs };
  for (const [output, inputName] of Object.entries(spec.feedback)) {
    const input = inputs.find((candidate) => candidate.name === inputName);
    const own = sample.inputs[inputName];
    if (!input || !own)
      throw new TensorError(`stream feedback: the model has no input '${inputName}' to feed back into`);
    const value = previous[output];
    if (!value) {
      throw new TensorError(
        `stream feedback: the model gave no output '${output}' to feed back as '${inputName}' (its outputs: ${Object.keys(previous).join(', ') || 'none'})`,
      );
    }
    const fits =
      (value.dims.length === own.dims.length && value.dims.every((dim, i) => dim === own.dims[i])) ||
      (elementCount(value.dims) === elementCount(own.dims) &&
        squeezed(value.dims).join(',') === squeezed(own.dims).join(','));
    if (!fits) {
      throw new TensorError(
        `stream feedback: output '${output}' ${formatDims(value.dims)} cannot be fed back as input '${inputName}' ${formatDims(own.dims)}`,
      );
    }
    const reshaped = { ...value, dims: [...own.dims] } as Tensor;
    fed[inputName] = isFloatDtype(own.dtype) ? castTensor(reshaped, 'float32') : castTensor(reshaped, own.dtype);
  }
  return { id: `${sample.id} (fed back)`, inputs: fed };
}

/**
 * `asSource` for an artifact: its outputs under their source names (the recorded renames),
 * dequantised with the artifact's own parameters and moved into the reference's layout where
 * both layouts are known and differ.
 */
export function artifactOutputsAsSource(options: {
  renames: Readonly<Record<string, string>>;
  quantization: ReadonlyMap<string, QuantizationParams | undefined>;
  outputLayouts: Readonly<Record<string, string>>;
  referenceLayouts: ReadonlyMap<string, string | undefined>;
}): (results: Record<string, Tensor>) => Record<string, Tensor> {
  const sourceOf = new Map(Object.entries(options.renames).map(([source, artifact]) => [artifact, source]));
  return (results) => {
    const out: Record<string, Tensor> = {};
    for (const [name, raw] of Object.entries(results)) {
      const source = sourceOf.get(name) ?? name;
      const q = options.quantization.get(name);
      let tensor: Tensor = q && !isFloatDtype(raw.dtype) ? dequantize(raw, q) : castTensor(raw, 'float32');
      const from = options.outputLayouts[name];
      const to = options.referenceLayouts.get(source);
      if (from && to && from !== to && from.length === tensor.dims.length && to.length === from.length) {
        try {
          tensor = transposeLayout(tensor, from, to);
        } catch (error) {
          // Layout letters that name no permutation (repeated D axes): the reshape in feedBack decides.
          if (!(error instanceof TensorError)) throw error;
        }
      }
      out[source] = tensor;
    }
    return out;
  };
}
