import { readdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * Files under `root` matching a POSIX glob relative to it, sorted by path (code-unit order, so
 * the same on every machine). Supports `*`, `?`, `[abc]`, `[a-z]`, `{a,b}` within a segment and
 * `**` for any number of folders. Dot files match only patterns that spell the dot. Symbolic
 * links to folders are not followed, so a glob cannot leave the project through one.
 */
export async function globFiles(root: string, pattern: string): Promise<string[]> {
  const segments = pattern.split('/').filter((segment) => segment !== '' && segment !== '.');
  const found: string[] = [];
  await walk(root, '', segments, found);
  return [...new Set(found)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

async function walk(root: string, relative: string, segments: string[], found: string[]): Promise<void> {
  const [segment, ...rest] = segments;
  if (segment === undefined) return;
  let entries;
  try {
    entries = await readdir(path.join(root, relative), { withFileTypes: true });
  } catch {
    return; // a folder that does not exist matches nothing
  }
  if (segment === '**') {
    // Zero folders, then one more folder and '**' again.
    await walk(root, relative, rest, found);
    for (const entry of entries) {
      if (entry.isDirectory() && !entry.name.startsWith('.'))
        await walk(root, join(relative, entry.name), segments, found);
    }
    return;
  }
  const matcher = segmentMatcher(segment);
  for (const entry of entries) {
    if (!matcher(entry.name)) continue;
    if (rest.length === 0) {
      if (entry.isFile() || entry.isSymbolicLink()) found.push(join(relative, entry.name));
    } else if (entry.isDirectory()) {
      await walk(root, join(relative, entry.name), rest, found);
    }
  }
}

function join(relative: string, name: string): string {
  return relative === '' ? name : `${relative}/${name}`;
}

/** A predicate for one path segment of a glob. */
export function segmentMatcher(segment: string): (name: string) => boolean {
  if (!/[*?[{]/.test(segment)) return (name) => name === segment;
  let source = '';
  for (let i = 0; i < segment.length; i++) {
    const char = segment[i]!;
    if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else if (char === '[') {
      const end = segment.indexOf(']', i + 2);
      if (end < 0) source += '\\[';
      else {
        let body = segment.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        source += `[${body}]`;
        i = end;
      }
    } else if (char === '{') {
      const end = segment.indexOf('}', i);
      if (end < 0) source += '\\{';
      else {
        const options = segment
          .slice(i + 1, end)
          .split(',')
          .map((option) => option.replace(/[.+^$()|\\*?[\]]/g, '\\$&'));
        source += `(?:${options.join('|')})`;
        i = end;
      }
    } else source += char.replace(/[.+^$()|\\}\]]/g, '\\$&');
  }
  const regex = new RegExp(`^${source}$`);
  const spellsDot = segment.startsWith('.');
  return (name) => (spellsDot || !name.startsWith('.')) && regex.test(name);
}
