/** Rules shared by the zip and tar readers: which entry names are safe, and which are "near". */
import { editDistance } from '../util/text.js';

/**
 * True when an archive entry name could not escape an extraction folder: relative, no `..`
 * segment, no backslash or NUL (a Windows separator or a C-string trick).
 */
export function isSafeEntryName(name: string): boolean {
  if (name === '' || name.includes('\0') || name.includes('\\')) return false;
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return false;
  return !name.split('/').includes('..');
}

/** `./a//b` -> `a/b`: how recipes and archives may spell the same entry. */
export function normaliseEntryName(name: string): string {
  return name
    .split('/')
    .filter((part) => part !== '' && part !== '.')
    .join('/');
}

/**
 * Up to `limit` names closest to `wanted`: same base name first, then by edit distance, keeping
 * only plausible typos (distance at most a third of the name, at least 3).
 */
export function nearestNames(wanted: string, names: readonly string[], limit = 5): string[] {
  const wantedBase = wanted.slice(wanted.lastIndexOf('/') + 1).toLowerCase();
  const maxDistance = Math.max(3, Math.floor(wanted.length / 3));
  const scored: Array<{ name: string; score: number }> = [];
  for (const name of names) {
    const base = name.slice(name.lastIndexOf('/') + 1).toLowerCase();
    if (base === wantedBase) {
      scored.push({ name, score: -1 });
      continue;
    }
    const distance = Math.min(editDistance(wanted.toLowerCase(), name.toLowerCase()), editDistance(wantedBase, base));
    if (distance <= maxDistance) scored.push({ name, score: distance });
  }
  scored.sort((a, b) => a.score - b.score || a.name.localeCompare(b.name));
  return scored.slice(0, limit).map((entry) => entry.name);
}
