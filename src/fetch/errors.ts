import { EdgezooError } from '../errors.js';

/**
 * Every expected failure of fetching a source. `where` names what was being fetched (a URL, a
 * repository path or `pypi:six==1.16.0:six.py`) so a caller can group or report without parsing
 * the message.
 */
export class FetchError extends EdgezooError {
  readonly where: string;
  constructor(code: string, where: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(code, message, options);
    this.where = where;
  }
}

/** The bytes do not hash to the sha256 the recipe pins. Nothing is left under the final name. */
export class Sha256MismatchError extends FetchError {
  readonly expected: string;
  readonly actual: string;
  constructor(where: string, expected: string, actual: string) {
    super('SHA256_MISMATCH', where, `sha256 mismatch for ${where}: expected ${expected}, got ${actual}`, {
      hint: 'if the file changed upstream on purpose, check where it came from and then update sha256 in the recipe',
    });
    this.expected = expected;
    this.actual = actual;
  }
}

/** The bytes are not the size the recipe gives (checked before the sha256, and cut off past it). */
export class SizeMismatchError extends FetchError {
  constructor(where: string, expected: number, actual: number | 'more') {
    super(
      'SIZE_MISMATCH',
      where,
      actual === 'more'
        ? `refusing ${where}: it grows past the ${expected} bytes the recipe's size gives; stopped there, before the sha256 check`
        : `refusing ${where}: it has ${actual} bytes, the recipe's size gives ${expected}`,
      { hint: 'if the file changed upstream on purpose, check where it came from and then update size and sha256' },
    );
  }
}

/** The recipe's sha256 is not 64 lower-case hex digits. */
export class InvalidSha256Error extends FetchError {
  constructor(where: string, value: string) {
    super('INVALID_SHA256', where, `invalid sha256 for ${where}: "${value}" is not 64 lower-case hex digits`, {
      hint: 'compute it with `sha256sum FILE`',
    });
  }
}

/** The server answered with a status that retrying will not fix (404, 410, 403, 401, other 4xx). */
export class HttpStatusError extends FetchError {
  readonly status: number;
  constructor(url: string, status: number, statusText: string | undefined) {
    const text = statusText ? ` ${statusText}` : '';
    super('HTTP_STATUS', url, `HTTP ${status}${text} for ${url}`, { hint: hintForStatus(status) });
    this.status = status;
  }
}

function hintForStatus(status: number): string {
  if (status === 404 || status === 410)
    return 'the file is gone or the URL is wrong; look for a new location and its sha256';
  if (status === 401 || status === 403)
    return 'the server refused access; the URL may need a token header or may be rate limited';
  if (status === 429 || status >= 500) return 'the server kept failing; try again later';
  return 'check the URL';
}

/** The server went silent for longer than the idle timeout, on every attempt. */
export class FetchTimeoutError extends FetchError {
  readonly timeoutMs: number;
  constructor(url: string, timeoutMs: number, attempts: number) {
    super('TIMEOUT', url, `no data from ${url} for ${timeoutMs} ms (${attempts} attempt${attempts === 1 ? '' : 's'})`, {
      hint: 'the server is slow or unreachable; try again later or raise the timeout',
    });
    this.timeoutMs = timeoutMs;
  }
}

/** The file is larger than the size cap, by its announced length or by what was streamed. */
export class TooLargeError extends FetchError {
  readonly maxBytes: number;
  constructor(url: string, maxBytes: number, announced?: number) {
    const what = announced === undefined ? 'the download passed' : `the server announced ${announced} bytes, over`;
    super('TOO_LARGE', url, `refusing ${url}: ${what} the cap of ${maxBytes} bytes`, {
      hint: 'raise the size cap if this file is really that large',
    });
    this.maxBytes = maxBytes;
  }
}

/** Plain http to a host that is not loopback: the bytes could be changed on the way. */
export class InsecureUrlError extends FetchError {
  constructor(url: string) {
    super('INSECURE_URL', url, `refusing ${url}: plain http is only allowed for loopback hosts`, {
      hint: 'use an https:// URL',
    });
  }
}

/** Not a URL edgezoo can fetch (unparsable, or a scheme other than https/http). */
export class UnsupportedUrlError extends FetchError {
  constructor(url: string, reason: string) {
    super('UNSUPPORTED_URL', url, `cannot fetch ${url}: ${reason}`, { hint: 'use an https:// URL' });
  }
}

/** A redirect from https to plain http. */
export class RedirectDowngradeError extends FetchError {
  constructor(from: string, to: string) {
    super('REDIRECT_DOWNGRADE', from, `refusing redirect from ${from} to ${to}: it downgrades https to http`, {
      hint: 'use a URL whose redirects stay on https',
    });
  }
}

/** More redirects than allowed (or a loop). */
export class TooManyRedirectsError extends FetchError {
  constructor(url: string, maxRedirects: number) {
    super('TOO_MANY_REDIRECTS', url, `too many redirects from ${url} (more than ${maxRedirects})`, {
      hint: 'use the final URL directly',
    });
  }
}

/** The body kept ending before the announced length, even after resuming and retrying. */
export class TruncatedDownloadError extends FetchError {
  constructor(url: string, received: number, expected: number, attempts: number) {
    super(
      'TRUNCATED',
      url,
      `download of ${url} ended early: got ${received} of ${expected} bytes (${attempts} attempt${attempts === 1 ? '' : 's'})`,
      { hint: 'the server or the connection keeps dropping; try again later' },
    );
  }
}

/** Connection refused/reset, DNS failure and the like, on every attempt. */
export class NetworkError extends FetchError {
  constructor(url: string, detail: string, attempts: number, cause?: unknown) {
    super('NETWORK', url, `cannot download ${url}: ${detail} (${attempts} attempt${attempts === 1 ? '' : 's'})`, {
      hint: 'check the network and the URL, then try again',
      cause,
    });
  }
}

/** A `path` source that is absolute, climbs out with `..`, or resolves (via symlinks) outside the project. */
export class PathOutsideProjectError extends FetchError {
  constructor(relativePath: string, reason: string) {
    super('PATH_OUTSIDE_PROJECT', relativePath, `refusing path ${relativePath}: ${reason}`, {
      hint: 'give a path relative to the project root that stays inside it, e.g. models/x/model.onnx',
    });
  }
}

/** A `path` source that does not exist or is not a regular file. */
export class SourceFileNotFoundError extends FetchError {
  constructor(relativePath: string, reason: string) {
    super('SOURCE_NOT_FOUND', relativePath, `source file ${relativePath} ${reason}`, {
      hint: 'check the path in the recipe; it is relative to the project root',
    });
  }
}

/** The package was downloaded but has no such file; `nearMatches` are the closest entry names. */
export class PackageFileNotFoundError extends FetchError {
  readonly nearMatches: string[];
  constructor(where: string, file: string, nearMatches: string[]) {
    const near = nearMatches.length > 0 ? `; near matches: ${nearMatches.join(', ')}` : '';
    super('PACKAGE_FILE_NOT_FOUND', where, `${where}: the package has no file ${file}${near}`, {
      hint: 'use the path of the file inside the package, as listed by the archive',
    });
    this.nearMatches = nearMatches;
  }
}

/** pip or npm could not download the package (unknown name or version, registry unreachable). */
export class PackageDownloadError extends FetchError {
  readonly command: string;
  /** The tool's exit code; null when a signal ended it. */
  readonly toolExitCode: number | null;
  readonly stderrTail: string;
  constructor(where: string, command: string, exitCode: number | null, stderrTail: string) {
    const tail = stderrTail.trim() ? `\n${stderrTail.trim()}` : '';
    super(
      'PACKAGE_DOWNLOAD',
      where,
      `cannot download ${where}: \`${command}\` exited with ${exitCode ?? 'a signal'}${tail}`,
      {
        hint: 'check the package name and pinned version exist in the registry',
      },
    );
    this.command = command;
    this.toolExitCode = exitCode;
    this.stderrTail = stderrTail;
  }
}

/** A wheel or tarball that cannot be read safely (corrupt, unsupported, or an unsafe entry name). */
export class ArchiveError extends FetchError {
  /** The archive would unpack to more than the expected size (a bomb, or the wrong file). */
  readonly tooLarge: boolean;
  constructor(where: string, detail: string, options: { tooLarge?: boolean } = {}) {
    super('ARCHIVE_INVALID', where, `cannot read archive ${where}: ${detail}`, {
      hint: 'the package file is damaged or uses a layout edgezoo does not read',
    });
    this.tooLarge = options.tooLarge ?? false;
  }
}
