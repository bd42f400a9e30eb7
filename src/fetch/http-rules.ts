/** Pure rules of the HTTP client: which statuses to retry, how long to wait, how to read ranges. */

/** A parsed `Content-Range: bytes start-end/total` (total undefined for `*`). */
export interface ContentRange {
  start: number;
  end: number;
  total?: number;
}

/** Parses a byte Content-Range header; undefined when it is missing or malformed. */
export function parseContentRange(header: string | undefined): ContentRange | undefined {
  if (!header) return undefined;
  const match = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(header);
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  const total = match[3] === '*' ? undefined : Number(match[3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined;
  if (total !== undefined && (!Number.isSafeInteger(total) || end >= total)) return undefined;
  return total === undefined ? { start, end } : { start, end, total };
}

/**
 * Checks a 206 answer continues the partial file: it must start exactly at `offset`, run to the end
 * of the file, and agree with the total length seen before (when known). Any other range would
 * splice the wrong bytes in, so the caller starts over instead.
 */
export function isUsableResumeRange(
  range: ContentRange | undefined,
  offset: number,
  knownTotal: number | undefined,
): range is ContentRange & { total: number } {
  if (range === undefined || range.total === undefined) return false;
  if (range.start !== offset) return false;
  if (range.end !== range.total - 1) return false;
  if (knownTotal !== undefined && knownTotal !== range.total) return false;
  return true;
}

/** Statuses worth another attempt: 408, 425, 429 and every 5xx. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || (status >= 500 && status <= 599);
}

/** Parses Retry-After (delta seconds or an HTTP date) into milliseconds from `now`; undefined if absent or bad. */
export function parseRetryAfter(header: string | undefined, now: number = Date.now()): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Backoff settings; the defaults suit real servers, tests shrink them. */
export interface RetryTiming {
  /** First delay before jitter, doubled each attempt. */
  baseDelayMs: number;
  /** Cap of the exponential delay. */
  maxDelayMs: number;
  /** Cap on how long a Retry-After may make us wait. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_TIMING: RetryTiming = { baseDelayMs: 500, maxDelayMs: 30_000, maxRetryAfterMs: 60_000 };

/**
 * Delay before attempt `attempt + 1` (attempt counts from 1): "equal jitter", half fixed and half
 * random, so clients that failed together do not come back together, yet every wait grows.
 * A server's Retry-After wins when longer, capped by `maxRetryAfterMs`.
 */
export function retryDelayMs(
  attempt: number,
  timing: RetryTiming,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(timing.maxDelayMs, timing.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jittered = exponential / 2 + random() * (exponential / 2);
  if (retryAfterMs === undefined) return Math.round(jittered);
  return Math.round(Math.max(jittered, Math.min(retryAfterMs, timing.maxRetryAfterMs)));
}

/** True for redirect statuses we follow. */
export function isRedirectStatus(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/**
 * A validator safe to put in If-Range: a strong ETag, else Last-Modified. Weak ETags (`W/"..."`)
 * are not allowed in If-Range by RFC 9110, so they do not count.
 */
export function ifRangeValidator(etag: string | undefined, lastModified: string | undefined): string | undefined {
  if (etag && !etag.startsWith('W/')) return etag;
  if (lastModified) return lastModified;
  return undefined;
}
