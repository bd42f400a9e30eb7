/**
 * The one rule that needs the file system: a path that looks fine as text may still leave the
 * project through a symlink (models/x -> /etc), and so may any file a glob matches. Kept apart
 * so parsing stays pure.
 */
import { lstat, realpath } from 'node:fs/promises';
import path from 'node:path';
import { expandProjectGlob, GlobMatchOutsideProjectError, globBase } from '../util/glob.js';
import type { RecipeProblem, SourcePosition } from './types.js';
import { normaliseProjectPath } from './project-path.js';
import { makeProblem, ProblemCode } from './problems.js';

/** A path a recipe names, with where it was written. */
export interface PathReference {
  /** As written in the recipe (a file path or a glob). */
  value: string;
  /** The dotted field it came from, for messages: `source.onnx.path`. */
  field: string;
  glob: boolean;
  position: SourcePosition;
}

/**
 * Reports each referenced path whose existing part resolves (through symlinks) outside the
 * project, and each glob that matches a file resolving outside it (with the same matcher the
 * build loads samples with). Paths that do not exist yet are not errors here: build steps
 * report missing files.
 */
export async function checkPathsStayInProject(
  references: readonly PathReference[],
  projectRoot: string,
): Promise<RecipeProblem[]> {
  if (references.length === 0) return [];
  const realRoot = await realpath(projectRoot);
  const problems: RecipeProblem[] = [];
  for (const reference of references) {
    const relative = reference.glob ? globBase(reference.value) : normaliseProjectPath(reference.value);
    if (relative === '') continue;
    const escapeTarget = await findSymlinkEscape(projectRoot, realRoot, relative);
    if (escapeTarget !== undefined) {
      problems.push(
        makeProblem(
          reference.position,
          ProblemCode.pathEscapes,
          `${reference.field}: "${reference.value}" leaves the project through the symlink ${escapeTarget.link} -> ${escapeTarget.target}; keep model files inside the project`,
        ),
      );
      continue;
    }
    if (reference.glob) {
      const outside = await findGlobMatchOutside(projectRoot, reference.value);
      if (outside !== undefined)
        problems.push(
          makeProblem(
            reference.position,
            ProblemCode.pathEscapes,
            `${reference.field}: ${outside.message}; keep sample files inside the project`,
          ),
        );
    }
  }
  return problems;
}

async function findGlobMatchOutside(
  projectRoot: string,
  pattern: string,
): Promise<GlobMatchOutsideProjectError | undefined> {
  try {
    await expandProjectGlob(projectRoot, pattern);
    return undefined;
  } catch (error) {
    if (error instanceof GlobMatchOutsideProjectError) return error;
    throw error;
  }
}

async function findSymlinkEscape(
  projectRoot: string,
  realRoot: string,
  relative: string,
): Promise<{ link: string; target: string } | undefined> {
  const segments = relative.split('/');
  for (let count = 1; count <= segments.length; count++) {
    const prefix = segments.slice(0, count).join('/');
    const absolute = path.join(projectRoot, prefix);
    let stats;
    try {
      stats = await lstat(absolute);
    } catch {
      return undefined; // The rest does not exist yet; nothing on disk can lead outside.
    }
    if (!stats.isSymbolicLink()) continue;
    let target: string;
    try {
      target = await realpath(absolute);
    } catch {
      return undefined; // A dangling link leads nowhere; reading the file will report it.
    }
    if (target !== realRoot && !target.startsWith(realRoot + path.sep)) return { link: prefix, target };
  }
  return undefined;
}
