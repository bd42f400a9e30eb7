/**
 * Safe YAML reading that keeps node positions. Recipes are plain data: no tags, no merge keys,
 * bounded size, aliases and nesting, unique keys, one document holding a mapping. The `yaml`
 * package's Document API is used because it keeps where each node came from (js-yaml does not).
 */
import {
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  visit,
  type Document,
  type Node,
} from 'yaml';
import type { RecipeProblem, SourcePosition } from './types.js';
import { makeProblem, ProblemCode, type NodePart, type ValuePath } from './problems.js';

/** Limits that keep a hostile or broken file from costing more than a normal one. */
export const YAML_LIMITS = {
  /** Bytes. A recipe is a page of text; data goes in models/<name>/. */
  maxBytes: 1024 * 1024,
  /** Mappings and lists inside each other. Real recipes use about 5. */
  maxDepth: 32,
  // Alias expansions counted the way `yaml` does (each alias weighs its node's size), so
  // "billion laughs" files stop early while a few shared lists still work.
  maxAliasCount: 64,
} as const;

// Keys that would reach Object.prototype through naive merging code downstream.
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** A parsed recipe file: its plain value (when readable) and how to find where a value was written. */
export interface YamlSource {
  file: string;
  /** The plain value; undefined when the YAML itself had problems. */
  value?: unknown;
  problems: RecipeProblem[];
  /** Position of the key or value at `path`; falls back to the nearest enclosing node. */
  locate(path: ValuePath, part?: NodePart): SourcePosition;
  /** The text a scalar at `path` was written as (`1.0`, where the value is the number 1). */
  scalarText(path: ValuePath): string | undefined;
}

/** Parses recipe text into a plain value, or problems that each carry a position. */
export function parseYamlSource(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  const problems: RecipeProblem[] = [];
  const at = (offset: number): SourcePosition => ({ file, ...positionOfOffset(text, lineCounter, offset) });
  let document: Document | undefined;
  const locate = (path: ValuePath, part: NodePart = 'value'): SourcePosition =>
    document === undefined ? { file, line: 1, col: 1 } : at(findNodeOffset(document, path, part));
  const scalarText = (path: ValuePath): string | undefined => {
    const node = document?.getIn(path as unknown[], true);
    return isScalar(node) && node.range !== undefined && node.range !== null
      ? text.slice(node.range[0], node.range[1]).trim()
      : undefined;
  };
  const result = (value?: unknown): YamlSource =>
    value === undefined ? { file, problems, locate, scalarText } : { file, value, problems, locate, scalarText };

  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > YAML_LIMITS.maxBytes) {
    problems.push(makeProblem({ file, line: 1, col: 1 }, ProblemCode.tooLarge, tooLargeMessage(bytes)));
    return result();
  }
  const nul = text.indexOf('\0');
  if (nul >= 0) {
    problems.push(
      makeProblem(
        positionByScan(text, file, nul),
        ProblemCode.binary,
        'this is a binary file (it contains a NUL byte); expected a YAML text file',
      ),
    );
    return result();
  }
  // The yaml parser recurses once per flow bracket; a file of 10,000 "[" exhausts the process
  // before it can report anything, so flow nesting is measured before parsing.
  const deepBracket = findExcessiveFlowNesting(text, YAML_LIMITS.maxDepth);
  if (deepBracket !== undefined) {
    problems.push(makeProblem(positionByScan(text, file, deepBracket), ProblemCode.tooDeep, tooDeepMessage()));
    return result();
  }

  const documents = parseAllDocuments(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
    merge: false,
    schema: 'core',
    strict: true,
  });
  const list = Array.isArray(documents) ? documents : [];
  const first = list[0];
  if (first === undefined || (first.contents === null && list.length === 1 && first.errors.length === 0)) {
    problems.push(
      makeProblem(
        { file, line: 1, col: 1 },
        ProblemCode.empty,
        'the recipe is empty; expected a mapping starting with name, version, license, ...',
      ),
    );
    return result();
  }
  document = first;
  for (const error of first.errors) {
    const offset = error.pos[0];
    if (error.code === 'DUPLICATE_KEY') {
      const key = keyTextAt(first, offset) ?? text.slice(error.pos[0], error.pos[1]).trim();
      problems.push(
        makeProblem(
          at(offset),
          ProblemCode.duplicateKey,
          `duplicate key ${JSON.stringify(key)}; each key may appear only once in a mapping`,
        ),
      );
    } else {
      problems.push(
        makeProblem(at(offset), ProblemCode.yamlSyntax, `YAML syntax error: ${yamlMessage(error.message)}`),
      );
    }
  }
  for (const warning of first.warnings) {
    if (warning.code === 'TAG_RESOLVE_FAILED') {
      const tag = text.slice(warning.pos[0], warning.pos[1]).trim().split(/\s/)[0] ?? '';
      problems.push(
        makeProblem(
          at(warning.pos[0]),
          ProblemCode.yamlTag,
          `YAML tag ${tag} is not allowed; recipes hold plain values (strings, numbers, lists, mappings)`,
        ),
      );
    } else {
      problems.push(makeProblem(at(warning.pos[0]), ProblemCode.yamlSyntax, `YAML: ${yamlMessage(warning.message)}`));
    }
  }
  const second = list[1];
  if (second !== undefined) {
    problems.push(
      makeProblem(
        at(second.range[0]),
        ProblemCode.multipleDocuments,
        'a recipe file holds one YAML document; found a second one after "---" (one model per file)',
      ),
    );
  }
  if (problems.length > 0) return result();

  problems.push(...checkNodes(first, at));
  if (problems.length > 0) return result();

  const contents = first.contents;
  if (!isMap(contents)) {
    const received = isSeq(contents)
      ? 'a list'
      : isScalar(contents)
        ? `the scalar ${JSON.stringify(String(contents.value))}`
        : 'something else';
    const offset = contents?.range?.[0] ?? 0;
    problems.push(
      makeProblem(
        at(offset),
        ProblemCode.notMapping,
        `expected a mapping of recipe keys (name: ..., version: ...) at the top level, received ${received}`,
      ),
    );
    return result();
  }

  try {
    return result(first.toJS({ maxAliasCount: YAML_LIMITS.maxAliasCount }));
  } catch (error) {
    if (error instanceof ReferenceError && /alias/i.test(error.message)) {
      const offset = firstAliasOffset(first);
      problems.push(
        makeProblem(
          at(offset),
          ProblemCode.aliasLimit,
          `too many alias expansions (more than ${YAML_LIMITS.maxAliasCount}); aliases here expand into a very large document`,
        ),
      );
      return result();
    }
    throw error;
  }
}

/** Message for a file over the size limit; loadRecipe uses it before reading the bytes. */
export function tooLargeMessage(bytes: number): string {
  return `the recipe is ${Math.ceil(bytes / 1024)} KiB; recipes are limited to ${YAML_LIMITS.maxBytes / 1024} KiB (keep data in models/<name>/ and point to it)`;
}

function tooDeepMessage(): string {
  return `mappings and lists are nested more than ${YAML_LIMITS.maxDepth} levels deep; a recipe needs far fewer`;
}

// `yaml` messages sometimes end with a context excerpt after a newline; the position says it all.
function yamlMessage(message: string): string {
  const firstLine = message.split('\n')[0] ?? message;
  return firstLine.replace(/ at line \d+, column \d+:?$/, '').trim();
}

/** Checks every node: no merge keys, no prototype keys, scalar keys only, bounded depth. */
function checkNodes(document: Document, at: (offset: number) => SourcePosition): RecipeProblem[] {
  const problems: RecipeProblem[] = [];
  let depthProblem = false;
  visit(document, {
    Pair(_key, pair, ancestors) {
      const key = pair.key;
      if (!isScalar(key)) {
        const offset = (key as Node | null)?.range?.[0] ?? 0;
        problems.push(
          makeProblem(at(offset), ProblemCode.complexKey, 'mapping keys must be plain strings, not lists or mappings'),
        );
        return visit.SKIP;
      }
      const name = String(key.value);
      const offset = key.range?.[0] ?? 0;
      if (name === '<<') {
        problems.push(
          makeProblem(
            at(offset),
            ProblemCode.mergeKey,
            'YAML merge keys ("<<") are not allowed; write the keys out (an alias "*name" may repeat a whole value)',
          ),
        );
      } else if (FORBIDDEN_KEYS.has(name)) {
        problems.push(
          makeProblem(
            at(offset),
            ProblemCode.forbiddenKey,
            `the key ${JSON.stringify(name)} is not allowed (it could change object prototypes)`,
          ),
        );
      }
      const depth = ancestors.filter((node) => isCollection(node)).length;
      if (!depthProblem && depth > YAML_LIMITS.maxDepth) {
        depthProblem = true;
        problems.push(makeProblem(at(offset), ProblemCode.tooDeep, tooDeepMessage()));
      }
      return undefined;
    },
  });
  return problems;
}

// `yaml` reports a duplicate key by its first character only; the key node has the full text.
function keyTextAt(document: Document, offset: number): string | undefined {
  let found: string | undefined;
  visit(document, {
    Pair(_key, pair) {
      if (isScalar(pair.key) && pair.key.range?.[0] === offset) {
        found = String(pair.key.value);
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}

function firstAliasOffset(document: Document): number {
  let offset = 0;
  visit(document, {
    Alias(_key, node) {
      offset = node.range?.[0] ?? 0;
      return visit.BREAK;
    },
  });
  return offset;
}

/**
 * Offset of the key or value at `path`. A path that does not exist (a missing key) resolves to
 * its parent, so "missing required key" points at the mapping that lacks it.
 */
function findNodeOffset(document: Document, path: ValuePath, part: NodePart): number {
  let node: unknown = document.contents;
  let keyOffset: number | undefined;
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(document);
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment),
      );
      if (pair === undefined) break;
      keyOffset = (pair.key as Node).range?.[0];
      // `key:` with nothing after it has no value node; point at the key.
      node = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (item === undefined) break;
      keyOffset = undefined;
      node = item;
    } else {
      break;
    }
  }
  if (part === 'key' && keyOffset !== undefined) return keyOffset;
  return (node as Node | null)?.range?.[0] ?? keyOffset ?? 0;
}

function positionOfOffset(text: string, lineCounter: LineCounter, offset: number): { line: number; col: number } {
  const position = lineCounter.linePos(Math.min(offset, text.length));
  return { line: position.line, col: position.col };
}

/** Line and column of an offset without a parser (used before the YAML is parsed). */
export function positionByScan(text: string, file: string, offset: number): SourcePosition {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { file, line, col: offset - lineStart + 1 };
}

/**
 * Offset of the first "[" or "{" nested deeper than `limit` in flow style, or undefined. Quoted
 * strings and comments are skipped; brackets inside block scalars may over-count, which only
 * matters for text with dozens of unclosed brackets.
 */
function findExcessiveFlowNesting(text: string, limit: number): number | undefined {
  // A cheap pre-check first: most recipes have far fewer brackets than the limit.
  let brackets = 0;
  for (let i = text.indexOf('['); i >= 0; i = text.indexOf('[', i + 1)) brackets++;
  for (let i = text.indexOf('{'); i >= 0; i = text.indexOf('{', i + 1)) brackets++;
  if (brackets <= limit) return undefined;

  const isSpace = (code: number | undefined) =>
    code === undefined || code === 32 || code === 9 || code === 10 || code === 13;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '#' && isSpace(i === 0 ? undefined : text.charCodeAt(i - 1))) {
      const end = text.indexOf('\n', i);
      if (end < 0) return undefined;
      i = end;
    } else if (char === '"' || char === "'") {
      // Only a quote that starts a scalar opens a string; `it's` inside plain text does not.
      const previous = text[i - 1] ?? '\n';
      if (!' \t\r\n[{,:-'.includes(previous)) continue;
      for (i++; i < text.length; i++) {
        if (char === '"' && text[i] === '\\') i++;
        else if (text[i] === char) {
          if (char === "'" && text[i + 1] === "'") i++;
          else break;
        }
      }
    } else if (char === '[' || char === '{') {
      depth++;
      if (depth > limit) return i;
    } else if (char === ']' || char === '}') {
      depth = Math.max(0, depth - 1);
    }
  }
  return undefined;
}
