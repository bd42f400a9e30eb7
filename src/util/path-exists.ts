import { stat } from 'node:fs/promises';

/** True when something (a file, a folder, what a symlink leads to) is at `file`. */
export async function pathExists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
