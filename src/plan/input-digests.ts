import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { EdgezooError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { expandProjectGlob } from '../util/glob.js';
import { sha256File, sha256Hex } from '../util/hash.js';
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
        // The sample loader reads exactly these files: one matcher, so no edit can miss the key.
        const matches = await expandProjectGlob(projectRoot, key);
        const lines: string[] = [];
        for (const match of matches) lines.push(`${match} ${await hashFileCached(match, recipe.name)}`);
        digests[key] = sha256Hex(lines.join('\n'));
      }
    }
  }
  if (statCacheChanged && options.statCacheFile) await writeStatCache(options.statCacheFile, statCache);
  return digests;
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
  // Atomic, so a concurrent build never reads half a file.
  await writeFileAtomic(file, JSON.stringify({ version: STAT_CACHE_VERSION, files: Object.fromEntries(records) }));
}
