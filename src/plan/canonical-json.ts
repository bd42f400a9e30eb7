import type { JsonValue } from './types.js';

/**
 * JSON with object keys sorted at every level and `undefined` members dropped, so equal
 * values always give equal text (and equal fingerprints) whatever order they were built in.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : sortKeys(item)));
  if (value !== null && typeof value === 'object') {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const member = (value as Record<string, unknown>)[key];
      if (member !== undefined) sorted[key] = sortKeys(member);
    }
    return sorted;
  }
  return value;
}

/** A deep copy as plain JSON (drops undefined, functions, class identity). */
export function toJsonValue(value: unknown): JsonValue {
  return JSON.parse(canonicalJson(value ?? null)) as JsonValue;
}
