import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EdgezooError } from '../errors.js';
import type { Recipe } from '../recipe/types.js';
import { localInputsOf } from './plan.js';
import type { InputDigests } from './types.js';

/** A local input file a recipe names does not exist. */
export class InputFileMissingError extends EdgezooError {
  constructor(model: string, file: string) {
    super('INPUT_MISSING', `recipes/${model}.yaml names ${file}, which does not exist`, {
      hint: 'create the file or fix the path in the recipe',
    });
  }
}

interface StatCacheRecord {
  size: number;
  mtimeMs: number;
  sha256: string;
}

/** The file that remembers hashes by path, size and mtime between runs. */
const STAT_CACHE_VERSION = 1;

/**
 * Computes the `InputDigests` the planner needs: the sha256 of every local file the recipes'
 * steps read, and for a glob a sha256 over the sorted `path sha256` lines of every match.
 * Hashes are remembered in `statCacheFile` by path, size and mtime so a rebuild with nothing
 * changed reads no file content. An edit that keeps both size and mtime would be missed;
 * every editor and `git checkout` moves mtime, so the trade is worth the speed.
 */
export async function computeInputDigests(
  recipes: readonly Recipe[],
  projectRoot: string,
  options: { statCacheFile?: string } = {},
): Promise<InputDigests> {
  const statCache = options.statCacheFile
    ? await readStatCache(options.statCacheFile)
    : new Map<string, StatCacheRecord>();
  let statCacheChanged = false;
  const hashFileCached = async (relative: string, model: string): Promise<string> => {
    const absolute = path.join(projectRoot, relative);
    let info;
    try {
      info = await stat(absolute);
    } catch {
      throw new InputFileMissingError(model, relative);
    }
    const known = statCache.get(relative);
    if (known && known.size === info.size && known.mtimeMs === info.mtimeMs) return known.sha256;
    const sha256 = await sha256File(absolute);
    statCache.set(relative, { size: info.size, mtimeMs: info.mtimeMs, sha256 });
    statCacheChanged = true;
    return sha256;
  };

  const digests: InputDigests = {};
  for (const recipe of recipes) {
    for (const { key, kind } of localInputsOf(recipe)) {
      if (digests[key] !== undefined) continue;
      if (kind === 'file') {
        digests[key] = await hashFileCached(key, recipe.name);
      } else {
        const matches = await expandGlob(projectRoot, key);
        const lines: string[] = [];
        for (const match of matches) lines.push(`${match} ${await hashFileCached(match, recipe.name)}`);
        digests[key] = createHash('sha256').update(lines.join('\n')).digest('hex');
      }
    }
  }
  if (statCacheChanged && options.statCacheFile) await writeStatCache(options.statCacheFile, statCache);
  return digests;
}

/** The sha256 (lower-case hex) of a file's bytes, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Project-relative POSIX paths matching a glob, sorted. Supports `*` and `?` within one path
 * segment and `**` for any depth, which is what recipes use (`models/x/calib/*.npy`).
 */
export async function expandGlob(projectRoot: string, pattern: string): Promise<string[]> {
  const segments = pattern.split('/').filter((segment) => segment !== '' && segment !== '.');
  const results: string[] = [];
  const walk = async (dir: string, index: number): Promise<void> => {
    if (index === segments.length) {
      results.push(dir);
      return;
    }
    const segment = segments[index]!;
    if (!/[*?]/.test(segment)) {
      const next = dir ? `${dir}/${segment}` : segment;
      if (index === segments.length - 1) {
        const info = await stat(path.join(projectRoot, next)).catch(() => undefined);
        if (info?.isFile()) results.push(next);
      } else {
        await walk(next, index + 1);
      }
      return;
    }
    const entries = await readdir(path.join(projectRoot, dir || '.'), { withFileTypes: true }).catch(() => []);
    if (segment === '**') {
      await walk(dir, index + 1);
      for (const entry of entries)
        if (entry.isDirectory()) await walkDeep(dir ? `${dir}/${entry.name}` : entry.name, index);
      return;
    }
    const matcher = segmentMatcher(segment);
    const last = index === segments.length - 1;
    for (const entry of entries) {
      if (!matcher.test(entry.name)) continue;
      const next = dir ? `${dir}/${entry.name}` : entry.name;
      if (last ? entry.isFile() : entry.isDirectory()) await walk(next, index + 1);
    }
  };
  // `**` matches zero or more directories: try the rest here, then in every subfolder.
  const walkDeep = async (dir: string, index: number): Promise<void> => {
    await walk(dir, index);
  };
  await walk('', 0);
  return [...new Set(results)].sort();
}

function segmentMatcher(segment: string): RegExp {
  const source = segment
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]');
  return new RegExp(`^${source}$`);
}

async function readStatCache(file: string): Promise<Map<string, StatCacheRecord>> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as {
      version?: number;
      files?: Record<string, StatCacheRecord>;
    };
    if (parsed.version !== STAT_CACHE_VERSION || !parsed.files) return new Map();
    return new Map(Object.entries(parsed.files));
  } catch {
    // Missing or unreadable: start over; it is only a speed-up.
    return new Map();
  }
}

async function writeStatCache(file: string, records: Map<string, StatCacheRecord>): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  // Write then rename, so a concurrent build never reads half a file.
  const temporary = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await writeFile(temporary, JSON.stringify({ version: STAT_CACHE_VERSION, files: Object.fromEntries(records) }));
  await rename(temporary, file);
}
