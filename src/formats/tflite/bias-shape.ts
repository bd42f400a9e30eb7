/**
 * Rank-1 bias tensors for TFLite's legacy quantizer.
 *
 * The TFLite converter folds a constant Add after a convolution into the op's bias and keeps the
 * Add constant's shape: onnx2tf's `tf.add(conv_transpose, bias)` becomes a TRANSPOSE_CONV whose
 * bias is `[1,1,1,C]` (tensorflow#43877, #43517). Quantising with int16 activations goes through
 * the legacy quantizer (lite.py uses the MLIR one only for int8), whose
 * `EnsureBiasScaleCompatibility` refuses any bias that is not a vector: "Expected bias tensor to
 * be a vector." (PP-OCRv4 detection). The kernels read the bias as C values either way, so
 * giving those tensors the shape `[C]` changes nothing at run time.
 *
 * The shape is patched in place: a flatbuffer vector is a uint32 length followed by its elements,
 * so `[1,1,1,C]` becomes length 1 with element C (the three dead int32s stay in the file). No
 * table moves, so every offset in the file stays valid and the result is the same size.
 */
import { TfliteFormatError } from './errors.js';
import { CheckedFlatBuffer } from './flatbuffers.js';
import { F, readTflite } from './reader.js';
import type { FieldSchema } from './schema.generated.js';

/** Ops with a bias input, and which input it is (TRANSPOSE_CONV: output_shape, weights, input, bias). */
export const BIAS_INPUT: Readonly<Record<string, number>> = {
  CONV_2D: 2,
  DEPTHWISE_CONV_2D: 2,
  FULLY_CONNECTED: 2,
  TRANSPOSE_CONV: 3,
  CONV_3D: 2,
};

/** One bias tensor whose shape was (or would be) flattened. */
export interface BiasReshape {
  subgraph: number;
  tensor: number;
  name: string;
  op: string;
  from: number[];
  to: number[];
}

/**
 * Flattens every rank > 1 bias of the ops in BIAS_INPUT to `[numel]` (shape and
 * shape_signature), in a copy of `bytes`. Returns the copy and what changed; with nothing to
 * change the copy equals the input. A shape vector shared with a tensor that is not such a bias
 * is left alone (flattening it would reshape that tensor too) and reported in `skipped`.
 */
export function flattenBiasShapes(bytes: Uint8Array): {
  bytes: Uint8Array;
  reshaped: BiasReshape[];
  skipped: BiasReshape[];
} {
  const model = readTflite(bytes);
  const out = new Uint8Array(bytes);
  const fb = new CheckedFlatBuffer(out);
  const subgraphTables = fb.root().tables(F.model.subgraphs, 'subgraphs');
  const reshaped: BiasReshape[] = [];
  const skipped: BiasReshape[] = [];
  model.subgraphs.forEach((subgraph, s) => {
    const biases = new Map<number, string>();
    for (const op of subgraph.operators) {
      const slot = BIAS_INPUT[op.opName];
      if (slot === undefined) continue;
      const index = op.inputs[slot];
      if (index === undefined || index < 0) continue;
      if ((subgraph.tensors[index]?.shape.length ?? 0) > 1) biases.set(index, op.opName);
    }
    if (biases.size === 0) return;
    const tensorTables = subgraphTables[s]!.tables(F.subgraph.tensors, `subgraphs[${s}].tensors`);
    // Where each tensor's shape vectors start, to find vectors shared between tensors.
    const vectorOf = (t: number, field: FieldSchema) => {
      const position = tensorTables[t]!.fieldPosition(field);
      return position === undefined ? undefined : fb.follow(position, `tensors[${t}] shape`);
    };
    const users = new Map<number, number[]>();
    tensorTables.forEach((_, t) => {
      for (const field of [F.tensor.shape, F.tensor.shapeSignature]) {
        const vector = vectorOf(t, field);
        if (vector !== undefined) users.set(vector, [...(users.get(vector) ?? []), t]);
      }
    });
    for (const [index, op] of biases) {
      const tensor = subgraph.tensors[index]!;
      const numel = tensor.shape.reduce((a, b) => a * b, 1);
      const entry: BiasReshape = { subgraph: s, tensor: index, name: tensor.name, op, from: tensor.shape, to: [numel] };
      const vectors = [F.tensor.shape, F.tensor.shapeSignature]
        .map((field) => vectorOf(index, field))
        .filter((v): v is number => v !== undefined);
      if (vectors.some((v) => (users.get(v) ?? []).some((t) => !biases.has(t)))) {
        skipped.push(entry);
        continue;
      }
      for (const vector of vectors) {
        const view = new DataView(out.buffer, out.byteOffset);
        const count = view.getUint32(vector, true);
        if (count < 1)
          throw new TfliteFormatError(`invalid TFLite model: bias ${tensor.name} has an empty shape vector`, {
            byteOffset: vector,
          });
        // shape_signature keeps -1 for a dynamic channel count (never seen for a bias).
        const dynamic = [...Array(count).keys()].some((i) => view.getInt32(vector + 4 + 4 * i, true) === -1);
        view.setUint32(vector, 1, true);
        view.setInt32(vector + 4, dynamic ? -1 : numel, true);
      }
      reshaped.push(entry);
    }
  });
  return { bytes: out, reshaped, skipped };
}
