import { UsageError } from '../errors.js';
import { isLoopbackHost, redactUrl } from '../fetch/index.js';

/** The environment variables of the remote cache (documented in the README and `build --help`). */
export const REMOTE_CACHE_ENV = {
  url: 'EDGEZOO_REMOTE_CACHE',
  readOnly: 'EDGEZOO_REMOTE_CACHE_READ_ONLY',
  token: 'EDGEZOO_REMOTE_CACHE_TOKEN',
  user: 'EDGEZOO_REMOTE_CACHE_USER',
  password: 'EDGEZOO_REMOTE_CACHE_PASSWORD',
} as const;

/** A remote cache to use, from the command line and the environment. */
export interface RemoteCacheSettings {
  /** Without credentials. */
  url: URL;
  readOnly: boolean;
  /** The Authorization header, when credentials were given; never printed. */
  headers: Record<string, string>;
}

/** What `edgezoo build` was given: `--remote-cache URL`, `--no-remote-cache` (false), `--remote-cache-read-only`. */
export interface RemoteCacheFlags {
  url?: string | false;
  readOnly?: boolean;
}

/**
 * Decides whether and how to use a remote cache. The flag wins over EDGEZOO_REMOTE_CACHE;
 * `--no-remote-cache` turns an inherited variable off. Credentials come from the environment
 * only (a token, or a user and password; or user:password@ in EDGEZOO_REMOTE_CACHE): a command
 * line is visible to every user of the machine and printed in CI logs. Throws UsageError.
 *
 * https is required except on loopback, as for downloads: the action cache is not
 * content-addressed, so over plain http anyone on the way could swap a step's outputs.
 */
export function resolveRemoteCacheSettings(
  flags: RemoteCacheFlags,
  env: NodeJS.ProcessEnv,
): RemoteCacheSettings | undefined {
  if (flags.url === false) return undefined;
  const fromFlag = flags.url !== undefined;
  const raw = fromFlag ? flags.url : env[REMOTE_CACHE_ENV.url];
  const source = fromFlag ? '--remote-cache' : REMOTE_CACHE_ENV.url;
  if (raw === undefined || raw === '') {
    if (flags.readOnly)
      throw new UsageError(
        `--remote-cache-read-only needs a remote cache: pass --remote-cache URL or set ${REMOTE_CACHE_ENV.url}`,
      );
    return undefined;
  }

  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // The raw text may hold a password; show only that it did not parse.
    throw new UsageError(
      `${source} is not a valid absolute URL`,
      'give the server, e.g. https://cache.example.org/edgezoo/',
    );
  }
  const shown = redactUrl(url);
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new UsageError(`${source} must be an https:// URL, received "${shown}"`);
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname))
    throw new UsageError(
      `${source} must be an https:// URL (plain http only on loopback), received "${shown}"`,
      'the action cache is not content-addressed: over plain http anyone on the way could change what a build reads; put TLS in front of the server',
    );
  if (url.search !== '' || url.hash !== '')
    throw new UsageError(`${source} must not have a query or fragment, received "${shown}"`);

  const headers: Record<string, string> = {};
  let user: string | undefined;
  let password: string | undefined;
  if (url.username !== '' || url.password !== '') {
    if (fromFlag)
      throw new UsageError(
        '--remote-cache must not carry credentials: a command line is visible to other users and in CI logs',
        `set ${REMOTE_CACHE_ENV.user} and ${REMOTE_CACHE_ENV.password}, or ${REMOTE_CACHE_ENV.token}, in the environment`,
      );
    user = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
    url = new URL(shown);
  }
  const envUser = env[REMOTE_CACHE_ENV.user] || undefined;
  const envPassword = env[REMOTE_CACHE_ENV.password] || undefined;
  const token = env[REMOTE_CACHE_ENV.token] || undefined;
  if (envUser !== undefined || envPassword !== undefined) {
    if (envUser === undefined || envPassword === undefined)
      throw new UsageError(`set both ${REMOTE_CACHE_ENV.user} and ${REMOTE_CACHE_ENV.password}, or neither`);
    if (user !== undefined)
      throw new UsageError(
        `give the remote cache credentials once: in ${REMOTE_CACHE_ENV.url} or in ${REMOTE_CACHE_ENV.user}/${REMOTE_CACHE_ENV.password}, not both`,
      );
    user = envUser;
    password = envPassword;
  }
  if (token !== undefined && user !== undefined)
    throw new UsageError(`give either ${REMOTE_CACHE_ENV.token} or a user and password for the remote cache, not both`);
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  else if (user !== undefined)
    headers.authorization = `Basic ${Buffer.from(`${user}:${password ?? ''}`).toString('base64')}`;

  return { url, readOnly: flags.readOnly === true || envFlag(env, REMOTE_CACHE_ENV.readOnly), headers };
}

function envFlag(env: NodeJS.ProcessEnv, name: string): boolean {
  const value = (env[name] ?? '').trim().toLowerCase();
  if (value === '' || value === '0' || value === 'false' || value === 'no' || value === 'off') return false;
  if (value === '1' || value === 'true' || value === 'yes' || value === 'on') return true;
  throw new UsageError(`${name} must be 1 or 0 (true or false), received "${env[name]}"`);
}
