/** Problem codes and helpers shared by the loading stages. */
import type { RecipeProblem, SourcePosition } from './types.js';

/** Stable codes of recipe problems (the `code` of a RecipeProblem). */
export const ProblemCode = {
  tooLarge: 'RECIPE_TOO_LARGE',
  binary: 'RECIPE_BINARY',
  empty: 'RECIPE_EMPTY',
  unreadable: 'RECIPE_UNREADABLE',
  yamlSyntax: 'RECIPE_YAML_SYNTAX',
  duplicateKey: 'RECIPE_DUPLICATE_KEY',
  yamlTag: 'RECIPE_YAML_TAG',
  mergeKey: 'RECIPE_YAML_MERGE_KEY',
  forbiddenKey: 'RECIPE_FORBIDDEN_KEY',
  complexKey: 'RECIPE_COMPLEX_KEY',
  aliasLimit: 'RECIPE_ALIAS_LIMIT',
  tooDeep: 'RECIPE_TOO_DEEP',
  notMapping: 'RECIPE_NOT_MAPPING',
  multipleDocuments: 'RECIPE_MULTIPLE_DOCUMENTS',
  unknownKey: 'RECIPE_UNKNOWN_KEY',
  missingKey: 'RECIPE_MISSING_KEY',
  wrongType: 'RECIPE_WRONG_TYPE',
  invalidValue: 'RECIPE_INVALID_VALUE',
  nameMismatch: 'RECIPE_NAME_MISMATCH',
  duplicateName: 'RECIPE_DUPLICATE_NAME',
  source: 'RECIPE_SOURCE',
  pathEscapes: 'RECIPE_PATH_ESCAPES',
  calibrationMissing: 'RECIPE_CALIBRATION_MISSING',
  precisionUnsupported: 'RECIPE_PRECISION_UNSUPPORTED',
  dynamicDim: 'RECIPE_DYNAMIC_DIM',
  samplesOverlap: 'RECIPE_SAMPLES_OVERLAP',
  inconsistent: 'RECIPE_INCONSISTENT',
  notInGraph: 'RECIPE_NOT_IN_GRAPH',
  sizeLimit: 'RECIPE_SIZE_LIMIT',
} as const;

export type ProblemCodeValue = (typeof ProblemCode)[keyof typeof ProblemCode];

/** A path into the parsed YAML value: mapping keys and list indexes. */
export type ValuePath = ReadonlyArray<string | number>;

/** Which part of a node a problem points at. */
export type NodePart = 'key' | 'value';

/** `inputs[0].shape[1]`; the empty path is the recipe itself. */
export function formatValuePath(path: ValuePath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out;
}

/** `recipes/x.yaml:3:7: message`, the line people read. */
export function formatProblem(problem: RecipeProblem): string {
  return `${problem.file}:${problem.line}:${problem.col}: ${problem.message}`;
}

export function makeProblem(position: SourcePosition, code: ProblemCodeValue, message: string): RecipeProblem {
  return { file: position.file, line: position.line, col: position.col, code, message };
}

/** Sorts by position, then drops exact duplicates (two stages may notice the same thing). */
export function sortProblems(problems: RecipeProblem[]): RecipeProblem[] {
  const seen = new Set<string>();
  return [...problems]
    .sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col)
    .filter((problem) => {
      const key = `${problem.file}:${problem.line}:${problem.col}:${problem.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
}

/** How a value reads in a message: `"abc"`, `the number 3`, `a list of 2 items`, `a mapping`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return value.length === 0 ? 'an empty string' : JSON.stringify(shown);
  }
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return `the boolean ${value}`;
  if (Array.isArray(value)) return value.length === 1 ? 'a list of 1 item' : `a list of ${value.length} items`;
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
