import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { PathOutsideProjectError, SourceFileNotFoundError } from './errors.js';

/**
 * Resolves a repository-relative source path to the real file it names, refusing anything that
 * could read outside the project: absolute paths, `..` segments, and symlinks (anywhere along the
 * path) whose target lies outside the project's real root.
 */
export async function resolveProjectFile(projectRoot: string, relativePath: string): Promise<string> {
  if (path.posix.isAbsolute(relativePath) || path.win32.isAbsolute(relativePath)) {
    throw new PathOutsideProjectError(relativePath, 'it is absolute');
  }
  if (relativePath.split(/[\\/]/).includes('..')) {
    throw new PathOutsideProjectError(relativePath, 'it climbs out with ..');
  }
  const realRoot = await realpath(projectRoot);
  let real: string;
  try {
    real = await realpath(path.join(realRoot, relativePath));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new SourceFileNotFoundError(relativePath, 'does not exist');
    throw error;
  }
  const inside = path.relative(realRoot, real);
  if (inside === '' || inside === '..' || inside.startsWith(`..${path.sep}`) || path.isAbsolute(inside)) {
    throw new PathOutsideProjectError(relativePath, `a symlink makes it resolve outside the project, to ${real}`);
  }
  if (!(await stat(real)).isFile()) throw new SourceFileNotFoundError(relativePath, 'is not a regular file');
  return real;
}
