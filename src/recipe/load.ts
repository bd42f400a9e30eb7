/**
 * Loading recipes: read (I/O) -> parse and check (pure) -> path check on disk (I/O).
 * Every stage collects all its problems; later stages run only on what earlier ones accepted.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { EdgezooError } from '../errors.js';
import type { Recipe, RecipeProblem, SourcePosition } from './types.js';
import { BUILTIN_CATALOGUE } from '../catalogue/builtin.js';
import type { Catalogue } from '../catalogue/catalogue.js';
import { checkSourceGraph } from './source-graph.js';
import { recipeYamlSchema } from './schema.js';
import { parseYamlSource, positionByScan, tooLargeMessage, YAML_LIMITS } from './yaml-document.js';
import { problemsFromIssues, valueAt } from './issues.js';
import { checkRecipeRules } from './rules.js';
import { normaliseRecipe } from './normalise.js';
import { checkPathsStayInProject, type PathReference } from './fs-rules.js';
import {
  formatProblem,
  formatValuePath,
  isMapping,
  makeProblem,
  ProblemCode,
  sortProblems,
  type ValuePath,
} from './problems.js';
import { FACTORY_PATTERN } from './schema.js';
import { isGlob } from '../util/glob.js';

/** What loading one recipe file gives: the recipe when it has no problems, and every problem. */
export interface RecipeLoadResult {
  /** Project-relative POSIX path of the file, as problems print it. */
  file: string;
  recipe?: Recipe;
  problems: RecipeProblem[];
}

/** The pure part of loading: a recipe (when valid), all problems, and the paths it names. */
export interface ParsedRecipe {
  recipe?: Recipe;
  problems: RecipeProblem[];
  /** Project paths the recipe names, for the file-system check (symlinks). */
  paths: PathReference[];
  /** Where a value of the recipe is written, for checks made after parsing. */
  locate?: (at: ValuePath) => SourcePosition;
}

/** What `loadRecipe` checks beyond the recipe file itself. */
export interface LoadRecipeOptions {
  /**
   * Open the source model when it is on this machine and check the recipe's input and output
   * names against its graph (`edgezoo check`; a build leaves it to its steps, which read the
   * model anyway).
   */
  sourceGraph?: boolean;
  /** The formats and backends recipes may name (default: the built-in catalogue). */
  catalogue?: Catalogue;
}

/** A recipe that does not load; carries every problem. Thrown by `requireRecipe`. */
export class RecipeInvalidError extends EdgezooError {
  readonly problems: RecipeProblem[];
  constructor(file: string, problems: RecipeProblem[]) {
    const lines = problems.slice(0, 20).map(formatProblem);
    const more = problems.length > 20 ? [`... and ${problems.length - 20} more`] : [];
    super(
      'RECIPE_INVALID',
      `${file} has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${[...lines, ...more].join('\n')}`,
      {
        hint: 'run `edgezoo check` to see every problem',
      },
    );
    this.problems = problems;
  }
}

/** True for the error `requireRecipe` throws. */
export function isEdgezooRecipeError(error: unknown): error is RecipeInvalidError {
  return error instanceof RecipeInvalidError;
}

/**
 * Parses and checks recipe text without touching the file system. `fileLabel` is the
 * project-relative path problems print (its base name must equal the recipe's name).
 */
export function parseRecipeText(
  text: string,
  fileLabel: string,
  catalogue: Catalogue = BUILTIN_CATALOGUE,
): ParsedRecipe {
  const source = parseYamlSource(text, fileLabel);
  if (source.value === undefined || source.problems.length > 0)
    return { problems: sortProblems(source.problems), paths: [] };

  const problems: RecipeProblem[] = [];
  const schema = recipeYamlSchema(catalogue);
  const parsed = schema.safeParse(source.value);
  if (!parsed.success) problems.push(...problemsFromIssues(parsed.error.issues, schema, source));
  if (isMapping(source.value)) {
    for (const finding of checkRecipeRules(source.value, fileLabel, catalogue)) {
      problems.push(makeProblem(source.locate(finding.path, finding.part), finding.code, finding.message));
    }
  }
  const paths = collectPaths(source.value, source.locate);
  if (problems.length > 0 || !parsed.success) return { problems: sortProblems(problems), paths };
  return {
    recipe: normaliseRecipe(parsed.data, catalogue),
    problems: [],
    paths,
    locate: (at) => source.locate(at, 'value'),
  };
}

/** Loads one recipe file: size, encoding, YAML, schema, rules, then symlink escapes. */
export async function loadRecipe(
  file: string,
  projectRoot: string,
  options: LoadRecipeOptions = {},
): Promise<RecipeLoadResult> {
  const label = projectLabel(file, projectRoot);
  const fail = (
    code: (typeof ProblemCode)[keyof typeof ProblemCode],
    message: string,
    line = 1,
    col = 1,
  ): RecipeLoadResult => ({
    file: label,
    problems: [makeProblem({ file: label, line, col }, code, message)],
  });
  let bytes: Buffer;
  try {
    const stats = await stat(file);
    if (stats.isDirectory()) return fail(ProblemCode.unreadable, 'expected a recipe file, received a directory');
    if (stats.size > YAML_LIMITS.maxBytes) return fail(ProblemCode.tooLarge, tooLargeMessage(stats.size));
    bytes = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return fail(
      ProblemCode.unreadable,
      code === 'ENOENT' ? 'no such file' : `cannot read the file (${code ?? String(error)})`,
    );
  }
  const decoded = decodeRecipeBytes(bytes, label);
  if ('problem' in decoded) return { file: label, problems: [decoded.problem] };

  const catalogue = options.catalogue ?? BUILTIN_CATALOGUE;
  const parsed = parseRecipeText(decoded.text, label, catalogue);
  if (parsed.recipe === undefined) return { file: label, problems: parsed.problems };
  const escapes = await checkPathsStayInProject(parsed.paths, projectRoot);
  if (escapes.length > 0) return { file: label, problems: sortProblems(escapes) };
  if (options.sourceGraph && parsed.locate) {
    const graph = await checkSourceGraph(parsed.recipe, projectRoot, parsed.locate, catalogue);
    if (graph.length > 0) return { file: label, problems: sortProblems(graph) };
  }
  return { file: label, recipe: parsed.recipe, problems: [] };
}

/** Loads a recipe or throws RecipeInvalidError with every problem (for verbs that need a valid recipe). */
export async function requireRecipe(file: string, projectRoot: string): Promise<Recipe> {
  const result = await loadRecipe(file, projectRoot);
  if (result.recipe === undefined) throw new RecipeInvalidError(result.file, result.problems);
  return result.recipe;
}

/**
 * Loads several recipe files and adds the rules that span files (two files with the same model
 * name, e.g. x.yaml and x.yml). Results keep the order of `files`.
 */
export async function checkRecipes(
  files: readonly string[],
  projectRoot: string,
  options: LoadRecipeOptions = {},
): Promise<RecipeLoadResult[]> {
  const results = await Promise.all(files.map((file) => loadRecipe(file, projectRoot, options)));
  const byName = new Map<string, RecipeLoadResult>();
  for (const result of results) {
    const name = result.recipe?.name;
    if (name === undefined) continue;
    const earlier = byName.get(name);
    if (earlier === undefined) {
      byName.set(name, result);
      continue;
    }
    result.problems.push(
      makeProblem(
        { file: result.file, line: 1, col: 1 },
        ProblemCode.duplicateName,
        `the model name "${name}" is already used by ${earlier.file}`,
      ),
    );
    delete result.recipe;
  }
  return results;
}

/** Every recipe of a project: recipes/*.yaml and recipes/*.yml, sorted, as absolute paths. */
export async function discoverRecipes(projectRoot: string): Promise<string[]> {
  const folder = path.join(projectRoot, 'recipes');
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names
    .filter((name) => /\.ya?ml$/i.test(name))
    .sort()
    .map((name) => path.join(folder, name));
}

/** The project-relative POSIX label of a file, as problems print it. */
export function projectLabel(file: string, projectRoot: string): string {
  const relative = path.relative(projectRoot, path.resolve(projectRoot, file));
  return relative.split(path.sep).join('/');
}

/**
 * Bytes -> text, refusing what is not a UTF-8 text file: a NUL byte (binary) or an invalid
 * UTF-8 sequence, with the position where it starts. A UTF-8 byte-order mark is dropped.
 */
export function decodeRecipeBytes(bytes: Uint8Array, file: string): { text: string } | { problem: RecipeProblem } {
  const nul = bytes.indexOf(0);
  const invalid = firstInvalidUtf8(bytes);
  const bad = nul >= 0 && (invalid < 0 || nul <= invalid) ? nul : invalid;
  if (bad >= 0) {
    const before = Buffer.from(bytes.subarray(0, bad)).toString('utf8');
    const position = positionByScan(`${before} `, file, before.length);
    const message =
      bad === nul
        ? 'this is a binary file (it contains a NUL byte); expected a YAML text file'
        : `the file is not valid UTF-8 (bad byte 0x${(bytes[bad] ?? 0).toString(16).padStart(2, '0')}); save it as UTF-8 text`;
    return { problem: makeProblem(position, ProblemCode.binary, message) };
  }
  let text = Buffer.from(bytes).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return { text };
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence, or -1. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const byte = bytes[i] ?? 0;
    let extra: number;
    let minimum: number;
    if (byte < 0x80) {
      i++;
      continue;
    } else if (byte >= 0xc2 && byte <= 0xdf) {
      extra = 1;
      minimum = 0x80;
    } else if (byte >= 0xe0 && byte <= 0xef) {
      extra = 2;
      minimum = 0x800;
    } else if (byte >= 0xf0 && byte <= 0xf4) {
      extra = 3;
      minimum = 0x10000;
    } else {
      return i;
    }
    let codePoint = byte & (0x3f >> extra);
    for (let k = 1; k <= extra; k++) {
      const next = bytes[i + k];
      if (next === undefined || (next & 0xc0) !== 0x80) return i;
      codePoint = (codePoint << 6) | (next & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and values past U+10FFFF are invalid UTF-8.
    if (codePoint < minimum || (codePoint >= 0xd800 && codePoint <= 0xdfff) || codePoint > 0x10ffff) return i;
    i += extra + 1;
  }
  return -1;
}

function collectPaths(
  value: unknown,
  locate: (path: ValuePath) => RecipeProblem | { file: string; line: number; col: number },
): PathReference[] {
  const references: PathReference[] = [];
  const add = (at: ValuePath, text: unknown, options: { glob?: boolean } = {}) => {
    if (typeof text !== 'string' || text === '') return;
    const position = locate(at);
    references.push({
      value: text,
      field: formatValuePath(at),
      glob: options.glob ?? isGlob(text),
      position: { file: position.file, line: position.line, col: position.col },
    });
  };
  add(['license_file'], valueAt(value, ['license_file']));
  add(['labels'], valueAt(value, ['labels']), { glob: false });
  for (const kind of ['onnx', 'tflite'] as const)
    add(['source', kind, 'path'], valueAt(value, ['source', kind, 'path']), { glob: false });
  const externalData = valueAt(value, ['source', 'onnx', 'external_data']);
  if (Array.isArray(externalData))
    externalData.forEach((_data, index) => {
      const at = ['source', 'onnx', 'external_data', index, 'path'];
      add(at, valueAt(value, at), { glob: false });
    });
  add(['source', 'pytorch', 'weights', 'path'], valueAt(value, ['source', 'pytorch', 'weights', 'path']), {
    glob: false,
  });
  const factory = valueAt(value, ['source', 'pytorch', 'factory']);
  const factoryFile = typeof factory === 'string' ? FACTORY_PATTERN.exec(factory)?.groups?.file : undefined;
  if (factoryFile !== undefined) add(['source', 'pytorch', 'factory'], factoryFile, { glob: false });
  add(['calibration', 'samples'], valueAt(value, ['calibration', 'samples']), { glob: true });
  add(['validation', 'samples'], valueAt(value, ['validation', 'samples']), { glob: true });
  const replacements = valueAt(value, ['replacements']);
  if (typeof replacements === 'string') add(['replacements'], replacements, { glob: false });
  return references;
}
