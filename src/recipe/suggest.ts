/** "Did you mean" suggestions by edit distance. */

/** Levenshtein distance between two strings (insert, delete, substitute; each costs 1). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitute = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitute));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

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
