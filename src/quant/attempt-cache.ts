/**
 * What the quantization search makes on the way, cached across builds by content: the
 * float model it starts from, the layer ranking and each attempt's artifact, each under the
 * sha256 of the convert step's fingerprint (recipe, samples, tool versions, upstream steps) and
 * what the piece is (the attempt's full quantization options). A build that fails at a later
 * attempt (a converter crash, Ctrl-C, an out-of-memory kill: nothing of the step is cached) and
 * is run again takes the earlier attempts' pieces from here instead of quantising again; the
 * judge still validates each one.
 *
 * Entries live in `<artifacts>/cache/.quant-attempts/<sha256>/`: the files and a `meta.json`
 * written last (an entry without it is incomplete and ignored), filled in a temporary folder and
 * renamed into place, so a killed build never leaves half an entry.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { STEP_PIECE_DIRS } from '../cache/local.js';
import type { ConvertJob } from '../toolchain/backends/types.js';

/** The folder of the search's cache under the build cache (`edgezoo cache gc` keeps a piece while its step is kept). */
export const QUANT_ATTEMPTS_DIR: (typeof STEP_PIECE_DIRS)[number] = '.quant-attempts';

/** The entry folder of `piece` for the job, or undefined when the job has no attempt cache. */
export function attemptEntry(job: Pick<ConvertJob, 'attemptCache'>, piece: unknown): string | undefined {
  if (!job.attemptCache) return undefined;
  const key = createHash('sha256')
    .update(JSON.stringify({ step: job.attemptCache.key, piece }))
    .digest('hex');
  return path.join(job.attemptCache.dir, QUANT_ATTEMPTS_DIR, key);
}

/**
 * `make` writes `files` (absolute paths) and returns small JSON; served from the cache when
 * this piece was made before (the files copied to the same paths), stored after otherwise.
 */
export async function cachedPiece<T>(
  job: Pick<ConvertJob, 'attemptCache' | 'log'>,
  piece: unknown,
  label: string,
  files: readonly string[],
  make: () => Promise<T>,
): Promise<T> {
  const entry = attemptEntry(job, piece);
  if (entry && existsSync(path.join(entry, 'meta.json'))) {
    try {
      const meta = JSON.parse(await readFile(path.join(entry, 'meta.json'), 'utf8')) as { value: T };
      for (const [i, file] of files.entries()) {
        await mkdir(path.dirname(file), { recursive: true });
        await copyFile(path.join(entry, `${i}${path.extname(file)}`), file);
      }
      job.log(`[edgezoo] quant: ${label} from the attempt cache (${path.basename(entry).slice(0, 12)})`);
      return meta.value;
    } catch (error) {
      job.log(`[edgezoo] quant: attempt cache entry ${entry} unreadable (${String(error)}); making it again`);
    }
  }
  const value = await make();
  if (entry) {
    const parent = path.dirname(entry);
    await mkdir(parent, { recursive: true });
    const tmp = await mkdtemp(path.join(parent, '.tmp-'));
    try {
      for (const [i, file] of files.entries()) await copyFile(file, path.join(tmp, `${i}${path.extname(file)}`));
      await writeFile(path.join(tmp, 'meta.json'), JSON.stringify({ step: job.attemptCache!.key, label, value }));
      await rm(entry, { recursive: true, force: true });
      await rename(tmp, entry);
    } catch (error) {
      await rm(tmp, { recursive: true, force: true });
      job.log(`[edgezoo] quant: could not keep ${label} in the attempt cache: ${String(error)}`);
    }
  }
  return value;
}
