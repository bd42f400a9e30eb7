import type { JsonValue } from './types.js';

/**
 * JSON with object keys sorted at every level and `undefined` members dropped, so equal
 * values always give equal text (and equal fingerprints) whatever order they were built in.
 * `memo` remembers the text of objects already seen: the planner passes one per plan, as the
 * same recipe parts (inputs, preprocess...) appear in many steps. Memoised objects must not
 * change afterwards.
 */
export function canonicalJson(value: unknown, memo?: WeakMap<object, string>): string {
  return encode(value, memo) ?? 'null';
}

function encode(value: unknown, memo: WeakMap<object, string> | undefined): string | undefined {
  if (value === null || typeof value !== 'object') {
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return undefined;
    return JSON.stringify(value);
  }
  const known = memo?.get(value);
  if (known !== undefined) return known;
  let text: string;
  if (Array.isArray(value)) {
    text = `[${value.map((item) => encode(item, memo) ?? 'null').join(',')}]`;
  } else {
    const parts: string[] = [];
    for (const key of Object.keys(value).sort()) {
      const member = encode((value as Record<string, unknown>)[key], memo);
      if (member !== undefined) parts.push(`${JSON.stringify(key)}:${member}`);
    }
    text = `{${parts.join(',')}}`;
  }
  memo?.set(value, text);
  return text;
}

/** A deep copy as plain JSON (drops undefined, functions, class identity). */
export function toJsonValue(value: unknown): JsonValue {
  return JSON.parse(canonicalJson(value ?? null)) as JsonValue;
}
