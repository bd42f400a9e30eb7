// The stamp that says which sources dist/ was compiled from: a hash over every src/**/*.ts
// path with its size and mtime. The bin compares it with the tree at start-up (a few ms of
// stat calls) and runs the TypeScript sources instead when they differ, so an edit made after
// `npm ci` is never shadowed by stale compiled code.
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

export const STAMP_FILE = 'build-stamp.json';

/** The hash of the TypeScript sources under `srcDir` as they are on disk now. */
export function sourceStamp(srcDir) {
  const lines = [];
  for (const entry of readdirSync(srcDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const file = path.join(entry.parentPath, entry.name);
    const info = statSync(file);
    lines.push(`${path.relative(srcDir, file)} ${info.size} ${info.mtimeMs}`);
  }
  return createHash('sha256').update(lines.sort().join('\n')).digest('hex');
}
