/**
 * Recipe sample globs, with one grammar for everything that reads them: `check` (which folder a
 * glob starts in), the planner (which files go into a fingerprint) and the sample loader (which
 * files it reads). Two matchers that disagreed on `{a,b}` once gave stale cache hits.
 * Matching is tinyglobby's, parsing picomatch's (tinyglobby matches with picomatch too).
 */
import { realpath as realpathCallback, stat as statCallback } from 'node:fs';
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import { glob } from 'tinyglobby';
import { EdgezooError } from '../errors.js';

/** A file a glob matched resolves (through a symlink) outside the project. */
export class GlobMatchOutsideProjectError extends EdgezooError {
  /** The project-relative path the glob matched. */
  readonly file: string;
  /** Where it resolves. */
  readonly target: string;
  constructor(pattern: string, file: string, target: string, how: 'matches' | 'reaches into' = 'matches') {
    super(
      'PATH_OUTSIDE_PROJECT',
      `"${pattern}" ${how} ${file}, which leads outside the project through a symlink (to ${target})`,
      { hint: 'copy the files into the project instead of linking to them' },
    );
    this.file = file;
    this.target = target;
  }
}

/**
 * The regular files under `projectRoot` that `pattern` matches, as project-relative POSIX paths
 * in code-unit order (the same on every machine). The grammar is picomatch's: `*`, `?`, `**`,
 * `[a-z]`, `{a,b}`, `{1..3}`, extglobs. Dot files match only where the pattern spells the dot.
 * Symbolic links are followed, and every match is resolved: one that leads outside the project
 * throws GlobMatchOutsideProjectError, so a link cannot feed a build files from elsewhere.
 */
export async function expandProjectGlob(projectRoot: string, pattern: string): Promise<string[]> {
  const realRoot = await realpath(projectRoot);
  const isInside = (target: string) => {
    const relative = path.relative(realRoot, target);
    return !(relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative));
  };
  // Every symlink the walk meets is resolved through this: one that leads outside is never
  // followed (a link to / under a `**` would otherwise be crawled whole before being refused).
  const outside: Array<{ link: string; target: string; folder: boolean }> = [];
  const guardedRealpath = (link: string, callback: (error: NodeJS.ErrnoException | null, target: string) => void) =>
    realpathCallback(link, (error, target) => {
      if (error || isInside(target)) return callback(error, target);
      statCallback(target, (statError, stats) => {
        outside.push({ link, target, folder: !statError && stats.isDirectory() });
        callback(Object.assign(new Error(`${link} leads outside the project`), { code: 'EXDEV' }), target);
      });
    });
  const matches = await glob(pattern, {
    cwd: projectRoot,
    onlyFiles: true,
    dot: false,
    followSymbolicLinks: true,
    // A pattern naming a folder means that folder, not everything in it.
    expandDirectories: false,
    fs: { realpath: guardedRealpath as never },
  });
  const matchesFile = picomatch(normaliseGlob(pattern), { dot: false });
  for (const { link, target, folder } of outside) {
    const relative = path.relative(projectRoot, path.resolve(projectRoot, link)).split(path.sep).join('/');
    if (folder ? mayMatchBelow(pattern, relative) : matchesFile(relative))
      throw new GlobMatchOutsideProjectError(pattern, relative, target, folder ? 'reaches into' : 'matches');
  }
  const inside: string[] = [];
  for (const file of matches) {
    let target: string;
    try {
      target = await realpath(path.join(projectRoot, file));
    } catch {
      continue; // Removed since the walk: it matches nothing now.
    }
    // Defence in depth: the guard above already kept the walk inside.
    if (!isInside(target)) throw new GlobMatchOutsideProjectError(pattern, file, target);
    inside.push(file);
  }
  return inside.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** `./models//x/*.png` -> `models/x/*.png`, the form matches are reported in. */
function normaliseGlob(pattern: string): string {
  return pattern
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.')
    .join('/');
}

/** Whether files below `folder` could match `pattern`, segment by segment (a `**` reaches any depth). */
function mayMatchBelow(pattern: string, folder: string): boolean {
  const patternSegments = normaliseGlob(pattern).split('/');
  const folderSegments = folder.split('/');
  for (const [index, segment] of folderSegments.entries()) {
    const part = patternSegments[index];
    if (part === undefined) return false;
    if (part.includes('**')) return true;
    if (!picomatch(part, { dot: false })(segment)) return false;
  }
  return patternSegments.length > folderSegments.length;
}

/** True when the text has glob syntax, i.e. it is a pattern rather than one path. */
export function isGlob(value: string): boolean {
  return picomatch.scan(value).isGlob;
}

/**
 * The part of a glob before its first wildcard segment, normalised: `./models/x/calib/**\/*.npy`
 * -> `models/x/calib`. A pattern without wildcards is its own base.
 */
export function globBase(pattern: string): string {
  return picomatch
    .scan(pattern)
    .base.split('/')
    .filter((segment) => segment !== '' && segment !== '.')
    .join('/');
}
