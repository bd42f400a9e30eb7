import { randomBytes } from 'node:crypto';
import { chmod, constants, copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Written into an exported folder: which step outputs it holds, so an unchanged export is not copied again. */
export const EXPORT_MARKER = '.edgezoo-build.json';

/**
 * Makes `targetDir` hold exactly `files` of `sourceDir` (the package step's cache entry ->
 * artifacts/zoo/<model>/<version>). Copies into a sibling temp folder and swaps it in with
 * renames, so readers never see a half-written version folder. Nothing is copied when the
 * marker already names `fingerprint`: a no-op rebuild touches no zoo file. `fresh` says the
 * step has just run: its outputs may differ from an earlier run under the same fingerprint
 * (`--force` after an edgezoo fix), so they are always written.
 */
export async function exportOutputs(
  sourceDir: string,
  files: readonly string[],
  targetDir: string,
  fingerprint: string,
  options: { fresh?: boolean } = {},
): Promise<'unchanged' | 'written'> {
  if (!options.fresh) {
    const marker = await readFile(path.join(targetDir, EXPORT_MARKER), 'utf8').then(
      (text) => (JSON.parse(text) as { fingerprint?: string }).fingerprint,
      () => undefined,
    );
    if (marker === fingerprint) return 'unchanged';
  }

  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const staging = `${targetDir}.tmp-${suffix}`;
  await mkdir(staging, { recursive: true });
  try {
    for (const file of files) {
      const destination = path.join(staging, file);
      await mkdir(path.dirname(destination), { recursive: true });
      // A reflink where the file system has them, else a copy; never a hard link, which
      // would let an edit in the zoo corrupt the cache entry.
      await copyFile(path.join(sourceDir, file), destination, constants.COPYFILE_FICLONE);
      await chmod(destination, 0o644);
    }
    await writeFile(path.join(staging, EXPORT_MARKER), `${JSON.stringify({ fingerprint })}\n`);
    const old = `${targetDir}.old-${suffix}`;
    await rename(targetDir, old).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    try {
      await rename(staging, targetDir);
    } catch (error) {
      // Another build exported at the same moment; its folder is as good as ours.
      if ((error as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (error as NodeJS.ErrnoException).code !== 'EEXIST')
        throw error;
    }
    await rm(old, { recursive: true, force: true });
    return 'written';
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
