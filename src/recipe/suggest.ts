/** "Did you mean" suggestions by edit distance. */
import { editDistance } from '../util/text.js';

/**
 * The candidate closest to `word`, or undefined when none is close enough to be a plausible typo
 * (distance at most a third of the word's length, and at least 1 allowed for short words).
 */
export function nearest(
  word: string,
  candidates: readonly string[],
  options: { ignoreCase?: boolean } = {},
): string | undefined {
  const normalise = (s: string) => (options.ignoreCase ? s.toLowerCase() : s).replace(/[_-]/g, '');
  const target = normalise(word);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    // Separators count as nothing, so `channelOrder` and `channel-order` find `channel_order`.
    const distance = editDistance(target, normalise(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const allowed = Math.max(1, Math.floor(word.length / 3));
  return bestDistance <= allowed ? best : undefined;
}
