/** Deterministic JSON of the zoo's documents. */

/**
 * JSON with object keys sorted (`schema` first), two-space indented, with a final newline.
 * Sorted keys make the same content give the same bytes, which the immutability check and the
 * index signature rely on.
 */
export function stableJson(value: unknown): string {
  return `${JSON.stringify(sortKeys(value), null, 2)}\n`;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a === 'schema' ? -1 : b === 'schema' ? 1 : a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v)]));
}
