/** Layout bookkeeping shared by the backends: which layout a converted tensor ended up in. */

/** The default layout of a tensor of `rank` dims when nobody named one: N then D (any) per axis. */
export function defaultLayout(rank: number): string {
  if (rank === 4) return 'NCHW';
  return rank <= 0 ? '' : `N${'D'.repeat(rank - 1)}`;
}

/** Channels moved last: NCHW -> NHWC, NCW -> NWC, NCDHW -> NDHWC; other layouts unchanged. */
export function channelsLast(layout: string): string {
  if (layout.length < 3 || layout[1] !== 'C') return layout;
  return `${layout[0] + layout.slice(2)}C`;
}

/** `shape` permuted as `from` -> `to` (both layouts name the same axes). */
export function permuteShape(shape: readonly number[], from: string, to: string): number[] {
  return [...to].map((axis) => shape[from.indexOf(axis)]!);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * The layout of a converted tensor: the source layout when the shapes agree, the channels-last
 * layout when the converter moved the channels (onnx2tf does for every 3-D..5-D tensor), else
 * undefined (the converter changed it in a way we cannot name).
 */
export function convertedLayout(
  sourceShape: readonly number[],
  sourceLayout: string,
  convertedShape: readonly number[],
): string | undefined {
  if (sameShape(sourceShape, convertedShape)) return sourceLayout;
  const last = channelsLast(sourceLayout);
  if (
    last !== sourceLayout &&
    sourceLayout.length === sourceShape.length &&
    sameShape(permuteShape(sourceShape, sourceLayout, last), convertedShape)
  )
    return last;
  return undefined;
}

/** Recipe shapes hold numbers after fixDynamicDims; symbolic dims kept dynamic count as 1 here. */
export function numericShape(shape: ReadonlyArray<number | string | null>): number[] {
  return shape.map((d) => (typeof d === 'number' ? d : 1));
}

/** The recipe inputs as the PyTorch ops take them: static shape and dtype, in recipe order. */
export function staticInputs(
  inputs: ReadonlyArray<{ shape: ReadonlyArray<number | string | null>; dtype: string }>,
): Array<{ shape: number[]; dtype: string }> {
  return inputs.map((input) => ({ shape: numericShape(input.shape), dtype: input.dtype }));
}

/**
 * The layout a converted tensor's dims say it has, for when `convertedLayout` cannot name it: the
 * source layout's letters permuted so that their sizes give `convertedShape`. Axes of equal size
 * keep their source order (a converter that moves C does not swap H and W). Undefined when no
 * permutation fits (different rank or sizes) or the layout's letters are not distinct.
 * E.g. NHWC [1,128,128,3] converted to [1,128,3,128] is NHCW.
 */
export function layoutFromDims(
  sourceShape: readonly number[],
  sourceLayout: string,
  convertedShape: readonly number[],
): string | undefined {
  if (sourceLayout.length !== sourceShape.length || convertedShape.length !== sourceShape.length) return undefined;
  if (new Set(sourceLayout).size !== sourceLayout.length) return undefined;
  const used = new Set<number>();
  let layout = '';
  for (const size of convertedShape) {
    // The first unused source axis of this size: equal sizes stay in source order.
    const axis = sourceShape.findIndex((d, i) => d === size && !used.has(i));
    if (axis < 0) return undefined;
    used.add(axis);
    layout += sourceLayout[axis];
  }
  return layout;
}
