/**
 * Turns zod issues into recipe problems people can act on: each says where (the YAML position),
 * what was expected and what was received, and suggests the nearest valid key or value.
 */
import type { z } from 'zod';
import type { RecipeProblem } from './types.js';
import { ALL_PRECISIONS } from './schema.js';
import { describeValue, formatValuePath, isMapping, makeProblem, ProblemCode, type ValuePath } from './problems.js';
import { nearest } from './suggest.js';
import type { YamlSource } from './yaml-document.js';

type Issue = z.core.$ZodIssue;
type AnySchema = z.core.$ZodType;

/** Converts the issues of one safeParse into problems. */
export function problemsFromIssues(issues: readonly Issue[], root: AnySchema, source: YamlSource): RecipeProblem[] {
  const problems: RecipeProblem[] = [];
  for (const issue of issues) problems.push(...problemsFromIssue(issue, [], root, source));
  // A typo ("sorce") yields an unknown key and a missing one ("source"); the suggestion on the
  // unknown key already says it, so the missing-key problem would only repeat it.
  const suggested = new Set(
    problems.filter((p) => p.code === ProblemCode.unknownKey).map((p) => /did you mean "([^"]+)"/.exec(p.message)?.[1]),
  );
  return problems.filter(
    (p) => p.code !== ProblemCode.missingKey || !suggested.has(/missing required key "([^"]+)"/.exec(p.message)?.[1]),
  );
}

function problemsFromIssue(issue: Issue, prefix: ValuePath, root: AnySchema, source: YamlSource): RecipeProblem[] {
  const path: ValuePath = [...prefix, ...(issue.path as Array<string | number>)];
  const label = formatValuePath(path);
  const at = (message: string) => (label === '' ? message : `${label}: ${message}`);
  const value = valueAt(source.value, path);

  switch (issue.code) {
    case 'unrecognized_keys': {
      const validKeys = objectKeysAt(root, path);
      return issue.keys.map((key) => {
        const suggestion = nearest(key, validKeys);
        const hint =
          suggestion !== undefined ? `; did you mean "${suggestion}"?` : `; expected one of: ${validKeys.join(', ')}`;
        return makeProblem(
          source.locate([...path, key], 'key'),
          ProblemCode.unknownKey,
          at(`unknown key "${key}"${hint}`),
        );
      });
    }
    case 'invalid_type': {
      const parentPath = path.slice(0, -1);
      const key = path[path.length - 1];
      const parent = valueAt(source.value, parentPath);
      if (value === undefined && typeof key === 'string' && isMapping(parent) && !Object.hasOwn(parent, key)) {
        const description = firstSentence(schemaAt(root, path)?.description);
        const parentLabel = formatValuePath(parentPath);
        const message = `missing required key "${key}"${description ? ` (${description})` : ''}`;
        return [
          makeProblem(
            source.locate(parentPath, 'value'),
            ProblemCode.missingKey,
            parentLabel === '' ? message : `${parentLabel}: ${message}`,
          ),
        ];
      }
      if (issue.expected === 'string' && (typeof value === 'number' || typeof value === 'boolean')) {
        // YAML read `1.0` as the number 1; show what was written and how to keep it a string.
        const written = source.scalarText(path) ?? String(value);
        return [
          makeProblem(
            source.locate(path),
            ProblemCode.wrongType,
            at(`expected a string, received the ${typeof value} ${written} (write it in quotes: "${written}")`),
          ),
        ];
      }
      return [
        makeProblem(
          source.locate(path),
          ProblemCode.wrongType,
          at(`expected ${typeName(issue.expected)}, received ${describeValue(value)}`),
        ),
      ];
    }
    case 'invalid_value': {
      const allowed = issue.values.map((v) => String(v));
      const format = path[0] === 'targets' && typeof path[1] === 'string' ? path[1] : undefined;
      if (format !== undefined && typeof value === 'string' && (ALL_PRECISIONS as readonly string[]).includes(value)) {
        return [
          makeProblem(
            source.locate(path),
            ProblemCode.precisionUnsupported,
            at(`${format} does not support precision "${value}"; ${format} builds ${allowed.join(', ')}`),
          ),
        ];
      }
      const suggestion = typeof value === 'string' ? nearest(value, allowed, { ignoreCase: true }) : undefined;
      const what = format !== undefined ? 'unknown precision ' : '';
      const received = typeof value === 'string' && what !== '' ? JSON.stringify(value) : describeValue(value);
      const message =
        what !== ''
          ? `${what}${received}; expected one of ${allowed.join(', ')}`
          : `expected ${allowed.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${allowed.join(', ')}`}, received ${received}`;
      return [
        makeProblem(
          source.locate(path),
          ProblemCode.invalidValue,
          at(message + (suggestion ? `; did you mean "${suggestion}"?` : '')),
        ),
      ];
    }
    case 'too_small':
    case 'too_big':
      return [
        makeProblem(
          source.locate(path),
          ProblemCode.invalidValue,
          at(`${sizeExpectation(issue)}, received ${describeValue(value)}`),
        ),
      ];
    case 'invalid_union': {
      // Report the branch that matched the value's shape (a mapping for the inline form, a
      // string for the path form); when none did, the union's own message says what fits.
      const matching = issue.errors.filter(
        (branch) => !branch.every((inner) => inner.code === 'invalid_type' && inner.path.length === 0),
      );
      const only = matching[0];
      if (matching.length === 1 && only !== undefined)
        return only.flatMap((inner) => problemsFromIssue(inner, path, root, source));
      return [
        makeProblem(
          source.locate(path),
          ProblemCode.wrongType,
          at(`${issue.message}, received ${describeValue(value)}`),
        ),
      ];
    }
    default: {
      // invalid_format and custom issues carry messages written in schema.ts.
      const message =
        /\bexpected\b/.test(issue.message) && !/\breceived\b/.test(issue.message)
          ? `${issue.message}, received ${describeValue(value)}`
          : issue.message;
      return [makeProblem(source.locate(path), ProblemCode.invalidValue, at(message))];
    }
  }
}

function sizeExpectation(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string {
  const bound = Number(issue.code === 'too_small' ? issue.minimum : issue.maximum);
  const inclusive = issue.inclusive !== false;
  const comparison = issue.code === 'too_small' ? (inclusive ? '>=' : '>') : inclusive ? '<=' : '<';
  switch (issue.origin) {
    case 'array':
      return issue.code === 'too_small'
        ? `expected at least ${bound} item${bound === 1 ? '' : 's'}`
        : `expected at most ${bound} item${bound === 1 ? '' : 's'}`;
    case 'string':
      return issue.code === 'too_small'
        ? bound === 1
          ? 'expected a non-empty string'
          : `expected at least ${bound} characters`
        : `expected at most ${bound} characters`;
    default:
      return `expected a number ${comparison} ${bound}`;
  }
}

function typeName(expected: string): string {
  switch (expected) {
    case 'object':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'int':
      return 'an integer';
    case 'boolean':
      return 'true or false';
    case 'tuple':
      return 'a list';
    default:
      return expected;
  }
}

function firstSentence(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  // The first sentence, where "e.g." and "..." do not end one.
  const end = text.search(/(?<!e\.g|i\.e|\.)\.(?=\s|$)/);
  return end < 0 ? text : text.slice(0, end);
}

/** The plain value at a path, or undefined. */
export function valueAt(value: unknown, path: ValuePath): unknown {
  let current = value;
  for (const segment of path) {
    if (Array.isArray(current) && typeof segment === 'number') current = current[segment];
    else if (isMapping(current) && Object.hasOwn(current, segment)) current = current[segment];
    else return undefined;
  }
  return current;
}

interface SchemaDefinition {
  type: string;
  innerType?: AnySchema;
  shape?: Record<string, AnySchema>;
  element?: AnySchema;
  valueType?: AnySchema;
  options?: AnySchema[];
  items?: AnySchema[];
  in?: AnySchema;
}

function definition(schema: AnySchema): SchemaDefinition {
  return schema._zod.def as unknown as SchemaDefinition;
}

// Wrappers that do not change which keys a value may have.
function unwrap(schema: AnySchema): AnySchema {
  let current = schema;
  for (;;) {
    const def = definition(current);
    if (
      def.innerType !== undefined &&
      ['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch', 'nonoptional'].includes(def.type)
    )
      current = def.innerType;
    else if (def.type === 'pipe' && def.in !== undefined) current = def.in;
    else return current;
  }
}

/** The schema that describes the value at `path`, when the path is known to it. */
export function schemaAt(root: AnySchema, path: ValuePath): (AnySchema & { description?: string }) | undefined {
  let current: AnySchema | undefined = root;
  for (const segment of path) {
    if (current === undefined) return undefined;
    current = childSchema(unwrap(current), segment);
  }
  return current as (AnySchema & { description?: string }) | undefined;
}

function childSchema(schema: AnySchema, segment: string | number): AnySchema | undefined {
  const def = definition(schema);
  switch (def.type) {
    case 'object':
      return def.shape?.[String(segment)];
    case 'array':
      return def.element;
    case 'record':
      return def.valueType;
    case 'tuple':
      return typeof segment === 'number' ? def.items?.[segment] : undefined;
    case 'union':
      for (const option of def.options ?? []) {
        const child = childSchema(unwrap(option), segment);
        if (child !== undefined) return child;
      }
      return undefined;
    default:
      return undefined;
  }
}

/** Keys a mapping at `path` may have (for "did you mean"). */
function objectKeysAt(root: AnySchema, path: ValuePath): string[] {
  const schema = schemaAt(root, path);
  if (schema === undefined) return [];
  const inner = unwrap(schema);
  const def = definition(inner);
  if (def.type === 'object') return Object.keys(def.shape ?? {});
  if (def.type === 'union')
    return (def.options ?? []).flatMap((option) => Object.keys(definition(unwrap(option)).shape ?? {}));
  return [];
}
