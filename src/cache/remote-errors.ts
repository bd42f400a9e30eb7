import { EdgezooError } from '../errors.js';

/**
 * A remote answer that does not check out: bytes whose sha256 or size differ from the digest
 * they were asked for, an action result or entry record that is not ours or not whole, an
 * HTML page where a blob should be. The entry is ignored and built locally.
 */
export class RemoteDataError extends EdgezooError {
  constructor(message: string) {
    super('REMOTE_CACHE_CORRUPT', message);
  }
}

/** The remote cache could not be reached or kept failing (refused, reset, timed out, 5xx) on every attempt. */
export class RemoteUnreachableError extends EdgezooError {
  constructor(message: string, cause?: unknown) {
    super('REMOTE_CACHE_UNREACHABLE', message, cause === undefined ? {} : { cause });
  }
}

/**
 * The remote cache answered, but with something retrying will not change: 401/403 (credentials),
 * 400, 405, 413, or a redirect edgezoo does not follow (to plain http, off loopback, too many).
 */
export class RemoteRefusedError extends EdgezooError {
  /** The HTTP status, when the refusal was one. */
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super('REMOTE_CACHE_REFUSED', message);
    this.status = status;
  }
}

/** A sealed local file no longer has the bytes its entry recorded; it is not uploaded. */
export class LocalBlobChangedError extends EdgezooError {
  constructor(message: string) {
    super('CACHE_FILE_CHANGED', message);
  }
}
