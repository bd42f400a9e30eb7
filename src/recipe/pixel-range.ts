/**
 * What 8-bit pixels become after a recipe's preprocessing, x = (raw * scale - mean) / std per
 * channel. `check` compares it with an image input's declared `range` (a mismatch publishes a
 * wrong range on the card and calibrates on values the model never sees), and the model card
 * uses the same test to decide whether an input is fed from an image.
 */

export interface PixelPreprocess {
  scale: number;
  mean: readonly number[];
  std: readonly number[];
}

/** [low, high] of (raw * scale - mean[c]) / std[c] over raw in 0..255 and the given channels. */
export function pixelRange(preprocess: PixelPreprocess, channels: number): [number, number] {
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (let c = 0; c < Math.max(1, channels); c++) {
    const mean = preprocess.mean.length === 1 ? preprocess.mean[0]! : (preprocess.mean[c] ?? 0);
    const std = preprocess.std.length === 1 ? preprocess.std[0]! : (preprocess.std[c] ?? 1);
    const a = (0 * preprocess.scale - mean) / std;
    const b = (255 * preprocess.scale - mean) / std;
    low = Math.min(low, a, b);
    high = Math.max(high, a, b);
  }
  return [low, high];
}

/**
 * True when `range` is the pixel range within 2 % of its span at both ends (mtcnn's
 * (x - 127.5) / 128 gives [-0.996, 0.996] for a declared [-1, 1]).
 */
export function rangeMatchesPixels(range: readonly [number, number], pixels: readonly [number, number]): boolean {
  const tolerance = 0.02 * Math.max(pixels[1] - pixels[0], range[1] - range[0]);
  return Math.abs(range[0] - pixels[0]) <= tolerance && Math.abs(range[1] - pixels[1]) <= tolerance;
}

/** The preprocessing changes nothing (scale 1, mean 0, std 1). */
export function isIdentityPreprocess(preprocess: PixelPreprocess): boolean {
  return preprocess.scale === 1 && preprocess.mean.every((m) => m === 0) && preprocess.std.every((s) => s === 1);
}

/** Channels of an input from its layout letter C (1 when it has none, as for a greyscale H x W input). */
export function channelsOf(shape: ReadonlyArray<number | string>, layout: string): number {
  const at = layout.indexOf('C');
  const dim = at >= 0 ? shape[at] : 1;
  return typeof dim === 'number' && dim > 0 ? dim : 1;
}

/** Three decimals, trailing zeros dropped: what messages and cards print for a range end. */
export function roundRangeEnd(value: number): number {
  return Math.round(value * 1000) / 1000;
}
