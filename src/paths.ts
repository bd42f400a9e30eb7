import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The edgezoo installation itself (where package.json, src/ and the toolchain locks live). */
export const toolRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The project a command works on: the nearest folder at or above `start` that has a `recipes/`
 * folder, else `start` itself. Recipes, models/ and artifacts/ are resolved against it.
 */
export function findProjectRoot(start: string = process.cwd()): string {
  let dir = path.resolve(start);
  for (;;) {
    if (existsSync(path.join(dir, 'recipes'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve(start);
    dir = parent;
  }
}

/** Where build output goes, relative to a project root. Everything here is git-ignored. */
export function artifactPaths(projectRoot: string) {
  const artifacts = path.join(projectRoot, 'artifacts');
  return {
    artifacts,
    cache: path.join(artifacts, 'cache'),
    downloads: path.join(artifacts, 'downloads'),
    logs: path.join(artifacts, 'logs'),
    zoo: path.join(artifacts, 'zoo'),
    envs: path.join(toolRoot, 'artifacts', 'envs'),
  };
}
