import { InsecureUrlError, RedirectDowngradeError, UnsupportedUrlError } from './errors.js';

/**
 * Header names never sent to a host other than the one the caller addressed. Besides these, any
 * header whose name mentions a token, secret, password, key or auth is treated as a credential,
 * and callers may add more names through `sensitiveHeaders`.
 */
export const ALWAYS_SENSITIVE_HEADERS: readonly string[] = ['authorization', 'cookie', 'proxy-authorization'];

const CREDENTIAL_NAME = /token|secret|passw|api[-_]?key|auth|session/i;

/** True for hosts that never leave the machine: 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
  const v4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return v4?.slice(1).every((octet) => Number(octet) <= 255) ?? false;
}

/**
 * Parses a URL and checks edgezoo may fetch it: https anywhere, http only on loopback (the tests'
 * servers). Throws `UnsupportedUrlError` or `InsecureUrlError`.
 */
export function checkFetchableUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UnsupportedUrlError(raw, 'not a valid absolute URL');
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:') {
    if (isLoopbackHost(url.hostname)) return url;
    throw new InsecureUrlError(raw);
  }
  throw new UnsupportedUrlError(raw, `the ${url.protocol.replace(/:$/, '')} scheme is not supported`);
}

/** True when a header carries credentials and must not follow a redirect to another origin. */
export function isSensitiveHeader(name: string, extraSensitive: readonly string[] = []): boolean {
  const lower = name.toLowerCase();
  if (ALWAYS_SENSITIVE_HEADERS.includes(lower)) return true;
  if (extraSensitive.some((extra) => extra.toLowerCase() === lower)) return true;
  return CREDENTIAL_NAME.test(lower);
}

/** Where a redirect goes and which headers to send there. */
export interface RedirectHop {
  url: URL;
  headers: Record<string, string>;
  /** True when the redirect left the origin and credentials were dropped. */
  crossedOrigin: boolean;
}

/**
 * Decides a redirect (pure): resolves `location` against `from`, refuses https -> http, applies the
 * http-only-on-loopback rule to the target, and drops credential headers when the origin (scheme,
 * host, port) changes. Once dropped they stay dropped for later hops, because `headers` passed in
 * are the ones of the current hop.
 */
export function planRedirect(
  from: URL,
  location: string,
  headers: Record<string, string>,
  extraSensitive: readonly string[] = [],
): RedirectHop {
  let target: URL;
  try {
    target = new URL(location, from);
  } catch {
    throw new UnsupportedUrlError(from.href, `the server redirected to an invalid location "${location}"`);
  }
  if (from.protocol === 'https:' && target.protocol === 'http:') {
    throw new RedirectDowngradeError(from.href, target.href);
  }
  checkFetchableUrl(target.href);
  const crossedOrigin = target.origin !== from.origin;
  const nextHeaders: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (crossedOrigin && isSensitiveHeader(name, extraSensitive)) continue;
    nextHeaders[name] = value;
  }
  return { url: target, headers: nextHeaders, crossedOrigin };
}

/** Removes user:password@ from a URL before it goes into messages and sidecars. */
export function redactUrl(url: string | URL): string {
  try {
    const parsed = new URL(typeof url === 'string' ? url : url.href);
    if (!parsed.username && !parsed.password) return parsed.href;
    parsed.username = '';
    parsed.password = '';
    return parsed.href;
  } catch {
    return String(url);
  }
}
