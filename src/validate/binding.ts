/**
 * Axis permutations between a source tensor and the artifact tensor a converter made of it, at
 * any rank. A permutation `perm` says: artifact axis i is source axis perm[i] (numpy's
 * `transpose(source, perm)` gives the artifact's tensor). onnx2tf moves axis 1 last in rank 3..5
 * tensors (NCW -> NWC, NCHW -> NHWC, NCDHW -> NDHWC); other converters keep the source's axes.
 *
 * Shapes alone cannot always tell which permutation a converter applied (a [3,3,3,3] output is
 * the same shape either way), so a tensor may carry several candidate permutations in order of
 * likelihood; validation settles outputs by the numbers (see `settleOutputPermutation`).
 */
import { TensorError } from './errors.js';
import { transpose } from './transforms.js';
import { allocate, type Tensor } from './tensor.js';

/** The identity permutation of `rank` axes. */
export function identityPerm(rank: number): number[] {
  return Array.from({ length: rank }, (_, i) => i);
}

export function isIdentityPerm(perm: readonly number[]): boolean {
  return perm.every((axis, i) => axis === i);
}

/** Axis 1 moved last (NCHW -> NHWC at rank 4); the identity below rank 3. */
export function channelsLastPerm(rank: number): number[] {
  if (rank < 3) return identityPerm(rank);
  return [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2), 1];
}

/** The permutation that undoes `perm`: transpose(transpose(x, perm), invertPerm(perm)) is x. */
export function invertPerm(perm: readonly number[]): number[] {
  const inverse = new Array<number>(perm.length);
  perm.forEach((axis, i) => (inverse[axis] = i));
  return inverse;
}

/** `shape` seen through `perm` (artifact dim i = source dim perm[i]). */
export function permuteShape<T>(shape: readonly T[], perm: readonly number[]): T[] {
  return perm.map((axis) => shape[axis]!);
}

/** The artifact's layout letters: the source layout's letters permuted (empty when the ranks differ). */
export function permutedLayout(sourceLayout: string, perm: readonly number[]): string {
  if (sourceLayout.length !== perm.length) return '';
  return perm.map((axis) => sourceLayout[axis]).join('');
}

function sameDims(a: ReadonlyArray<number | string>, b: ReadonlyArray<number | string>): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Every permutation of `rank` axes, identity first (lexicographic order). */
function allPerms(rank: number): number[][] {
  if (rank === 0) return [[]];
  const out: number[][] = [];
  const walk = (prefix: number[], left: number[]) => {
    if (left.length === 0) out.push(prefix);
    for (const [i, axis] of left.entries()) walk([...prefix, axis], [...left.slice(0, i), ...left.slice(i + 1)]);
  };
  walk([], identityPerm(rank));
  return out;
}

/** Above this rank candidates are not enumerated (7! = 5040 is still cheap; tensors that large are rare). */
const MAX_ENUMERATED_RANK = 7;

/**
 * The permutations that turn `sourceShape` into `artifactShape`, most likely first: the
 * `preferred` ones (in their order) that fit and the identity; only when none of those fits,
 * every permutation that does (the shape then shows what the converter did).
 * Dynamic dims (strings, or -1) fit anything. Empty when the ranks differ or no order of the
 * source dims gives the artifact's.
 */
export function fittingPerms(
  sourceShape: ReadonlyArray<number | string>,
  artifactShape: ReadonlyArray<number | string>,
  preferred: ReadonlyArray<readonly number[]> = [],
): number[][] {
  if (sourceShape.length !== artifactShape.length) return [];
  const rank = sourceShape.length;
  const known = (d: number | string) => typeof d === 'number' && d >= 0;
  const fits = (perm: readonly number[]) =>
    perm.every((axis, i) => {
      const s = sourceShape[axis]!;
      const a = artifactShape[i]!;
      return !known(s) || !known(a) || s === a;
    });
  const candidates: number[][] = [];
  const add = (perm: readonly number[]) => {
    if (perm.length === rank && fits(perm) && !candidates.some((c) => sameDims(c, perm))) candidates.push([...perm]);
  };
  for (const perm of preferred) add(perm);
  add(identityPerm(rank));
  // What the converter is known to do, when it fits, is the whole answer: another order of
  // equal-sized axes (a 2-D output read transposed) would be a converter fault, not a layout.
  if (candidates.length > 0) return candidates;
  if (rank <= MAX_ENUMERATED_RANK) for (const perm of allPerms(rank)) add(perm);
  return candidates;
}

/** Moves an artifact tensor back into its source's axis order. */
export function toSourceOrder<T extends Tensor>(tensor: T, perm: readonly number[]): T {
  if (tensor.dims.length !== perm.length)
    throw new TensorError(
      `permutation [${perm.join(', ')}] does not fit a tensor of rank ${tensor.dims.length} (shape [${tensor.dims.join(', ')}])`,
    );
  return transpose(tensor, invertPerm(perm));
}

/** Moves a source-ordered tensor into the artifact's axis order. */
export function toArtifactOrder<T extends Tensor>(tensor: T, perm: readonly number[]): T {
  if (tensor.dims.length !== perm.length)
    throw new TensorError(
      `permutation [${perm.join(', ')}] does not fit a tensor of rank ${tensor.dims.length} (shape [${tensor.dims.join(', ')}])`,
    );
  return transpose(tensor, perm);
}

/**
 * An artifact output stacked over `samples` samples along axis 0, moved back into its source's
 * axis order sample by sample: a permutation that moves axis 0 (onnx2tf's [2,1,128] LSTM state as
 * [1,2,128]) must not mix samples. With `samples` <= 1, or axis 0 kept, one transpose does.
 */
export function toSourceOrderStacked<T extends Tensor>(tensor: T, perm: readonly number[], samples: number): T {
  if (samples <= 1 || perm[0] === 0) return toSourceOrder(tensor, perm);
  const first = tensor.dims[0] ?? 0;
  if (first % samples !== 0) throw new TensorError(`an output of ${first} rows does not split into ${samples} samples`);
  const rows = first / samples;
  const dims = [rows, ...tensor.dims.slice(1)];
  const size = tensor.data.length / samples;
  const parts = Array.from({ length: samples }, (_, i) =>
    toSourceOrder({ ...tensor, dims, data: tensor.data.slice(i * size, (i + 1) * size) } as T, perm),
  );
  const out = allocate(tensor.dtype, tensor.data.length);
  parts.forEach((part, i) =>
    (out as { set(a: ArrayLike<number | bigint>, o: number): void }).set(
      part.data as ArrayLike<number | bigint>,
      i * size,
    ),
  );
  return { ...tensor, dims: [parts[0]!.dims[0]! * samples, ...parts[0]!.dims.slice(1)], data: out } as T;
}

/**
 * Of the candidate permutations of an artifact output, the one under which it agrees best with
 * the reference (least summed absolute error over finite elements, a non-finite mismatch
 * counting as huge; the earlier candidate on a tie), with that error. Both are stacked over
 * `samples` samples along axis 0. Candidates whose shape does not give the reference's are passed
 * over; undefined when none does. `values` are the artifact output's float values (dequantised).
 */
export function bestOutputPermutation(
  reference: Tensor<'float32'>,
  values: Tensor<'float32'>,
  candidates: ReadonlyArray<readonly number[]>,
  samples = 1,
): { perm: number[]; error: number } | undefined {
  let best: { perm: number[]; error: number } | undefined;
  for (const perm of candidates) {
    if (perm.length !== values.dims.length) continue;
    let moved: Tensor<'float32'>;
    try {
      moved = toSourceOrderStacked(values, perm, samples);
    } catch (error) {
      if (error instanceof TensorError) continue;
      throw error;
    }
    if (!sameDims(moved.dims, reference.dims)) continue;
    const a = moved.data as Float32Array;
    const ref = reference.data as Float32Array;
    let error = 0;
    for (let i = 0; i < ref.length; i++) {
      const d = Math.abs(a[i]! - ref[i]!);
      if (Number.isFinite(d)) error += d;
      else if (!(Number.isNaN(a[i]!) && Number.isNaN(ref[i]!)) && a[i] !== ref[i]) error += 1e30;
    }
    if (!best || error < best.error) best = { perm: [...perm], error };
  }
  return best;
}

/** The permutation of `bestOutputPermutation`, or undefined. */
export function settleOutputPermutation(
  reference: Tensor<'float32'>,
  values: Tensor<'float32'>,
  candidates: ReadonlyArray<readonly number[]>,
  samples = 1,
): number[] | undefined {
  return bestOutputPermutation(reference, values, candidates, samples)?.perm;
}
