/**
 * Write-then-rename, so a reader (another build, a publish, a pull) sees either the old bytes or
 * the new ones, never half a file.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * A name next to `target` that no concurrent writer uses: pid plus random bytes, because two
 * writes of one target can run in one process too.
 */
export function temporarySibling(target: string): string {
  return path.join(
    path.dirname(target),
    `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
}

/** Writes a file atomically (creating its folder). */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  await replaceAtomically(target, (temporary) => writeFile(temporary, data));
}

/** Copies `from` to `to` atomically; returns the bytes copied. */
export async function copyFileAtomic(from: string, to: string): Promise<number> {
  await replaceAtomically(to, (temporary) => copyFile(from, temporary));
  return (await stat(to)).size;
}

/**
 * Has `make` write a temporary sibling of `target` (a file or a folder), then renames it over
 * `target`; the temporary is removed when anything fails. A folder target is removed first,
 * since rename cannot replace a non-empty folder: readers then see it missing for a moment,
 * never half-written.
 */
export async function replaceAtomically(target: string, make: (temporary: string) => Promise<void>): Promise<void> {
  const temporary = temporarySibling(target);
  try {
    await make(temporary);
    if ((await stat(temporary)).isDirectory()) await rm(target, { recursive: true, force: true });
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { recursive: true, force: true });
    throw error;
  }
}
