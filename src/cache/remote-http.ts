/**
 * The HTTP side of the remote cache: GET/HEAD/PUT of `<base>/ac/<key>` and `<base>/cas/<sha256>`
 * with keep-alive connections, an idle timeout, retries with backoff for what a retry can fix,
 * redirects followed by the download rules of src/fetch (credentials never sent to another
 * origin, never https -> http), and every body streamed: memory stays flat whatever a file's size.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_RETRY_TIMING, FetchError, planRedirect, redactUrl, type RetryTiming } from '../fetch/index.js';
import { isRedirectStatus, isRetryableStatus, retryDelayMs } from '../fetch/http-rules.js';
import { LocalBlobChangedError, RemoteDataError, RemoteRefusedError, RemoteUnreachableError } from './remote-errors.js';
import { type Digest, sha256Hex } from './remote-protocol.js';

/** The two stores of the protocol. */
export type RemoteStore = 'ac' | 'cas';

/** Settings of the HTTP client. */
export interface RemoteHttpOptions {
  /** The cache's base URL (any path prefix is kept: `https://host/team/` -> `https://host/team/ac/...`). */
  baseUrl: URL;
  /** Sent with every request to the cache's origin (credentials); dropped on a redirect elsewhere. */
  headers?: Record<string, string>;
  /** Fail an attempt when the server sends nothing for this long (connect included). Default 30 000. */
  timeoutMs?: number;
  /** Attempts after the first for resets, timeouts, truncated bodies, 5xx, 408 and 429. Default 2. */
  retries?: number;
  retryTiming?: Partial<RetryTiming>;
  /** Default 5 (GET and HEAD only; a PUT is never redirected). */
  maxRedirects?: number;
  /** Concurrent connections per origin. Default 16. */
  maxSockets?: number;
  signal?: AbortSignal;
}

/** Byte counts of everything transferred, for the build's summary. */
export interface TransferCounts {
  bytesDown: number;
  bytesUp: number;
}

/** A failure worth another attempt; becomes RemoteUnreachableError when the attempts run out. */
class TransientError extends Error {}

const USER_AGENT = 'edgezoo-remote-cache';

/** A client of one bazel-remote style HTTP cache. */
export class RemoteHttpClient {
  readonly counts: TransferCounts = { bytesDown: 0, bytesUp: 0 };
  private readonly base: URL;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly timing: RetryTiming;
  private readonly maxRedirects: number;
  private readonly signal: AbortSignal | undefined;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(options: RemoteHttpOptions) {
    this.base = new URL(options.baseUrl.href.endsWith('/') ? options.baseUrl.href : `${options.baseUrl.href}/`);
    this.headers = { 'user-agent': USER_AGENT, 'accept-encoding': 'identity' };
    for (const [name, value] of Object.entries(options.headers ?? {})) this.headers[name.toLowerCase()] = value;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retries = options.retries ?? 2;
    this.timing = { ...DEFAULT_RETRY_TIMING, baseDelayMs: 250, ...options.retryTiming };
    this.maxRedirects = options.maxRedirects ?? 5;
    this.signal = options.signal;
    const maxSockets = options.maxSockets ?? 16;
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets });
  }

  /** The base URL without credentials, for messages. */
  get displayUrl(): string {
    return redactUrl(this.base);
  }

  /** Closes idle keep-alive connections so the process can exit. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** True when the object exists (200), false on 404. */
  async has(store: RemoteStore, key: string): Promise<boolean> {
    return this.withRetries(`HEAD ${store}/${short(key)}`, async () => {
      const response = await this.send('HEAD', store, key);
      response.resume();
      const status = response.statusCode ?? 0;
      if (status === 200) return true;
      if (status === 404) return false;
      throw this.statusError('HEAD', store, key, response);
    });
  }

  /**
   * The whole object in memory (small objects only: action results and entry records), or
   * undefined on 404. With `expect`, its size and sha256 must match (RemoteDataError otherwise);
   * without, it must fit in `maxBytes`.
   */
  async getBytes(store: RemoteStore, key: string, limits: { maxBytes: number; expect?: Digest }) {
    return this.withRetries(`GET ${store}/${short(key)}`, async (): Promise<Buffer | undefined> => {
      const response = await this.send('GET', store, key);
      const status = response.statusCode ?? 0;
      if (status === 404) {
        response.resume();
        return undefined;
      }
      if (status !== 200) {
        response.resume();
        throw this.statusError('GET', store, key, response);
      }
      checkPlainBody(response, limits.expect?.size);
      const chunks: Buffer[] = [];
      let received = 0;
      const maxBytes = limits.expect?.size ?? limits.maxBytes;
      for await (const chunk of readBody(response)) {
        received += chunk.length;
        this.counts.bytesDown += chunk.length;
        if (received > maxBytes) {
          response.destroy();
          throw new RemoteDataError(`${store}/${short(key)} is larger than ${maxBytes} bytes`);
        }
        chunks.push(chunk);
      }
      const bytes = Buffer.concat(chunks);
      if (limits.expect) checkDigest(bytes.length, sha256Hex(bytes), limits.expect, `${store}/${short(key)}`);
      return bytes;
    });
  }

  /**
   * Streams `cas/<sha256>` into `file` (created or truncated), hashing on the way; false on 404.
   * A body longer than `digest.size` is cut off as soon as it passes it. Throws RemoteDataError
   * when the bytes are not the digest's.
   */
  async getToFile(digest: Digest, file: string): Promise<boolean> {
    const key = digest.sha256;
    return this.withRetries(`GET cas/${short(key)}`, async () => {
      const response = await this.send('GET', 'cas', key);
      const status = response.statusCode ?? 0;
      if (status === 404) {
        response.resume();
        return false;
      }
      if (status !== 200) {
        response.resume();
        throw this.statusError('GET', 'cas', key, response);
      }
      checkPlainBody(response, digest.size);
      const hash = createHash('sha256');
      let received = 0;
      // 1 MiB buffer: fewer write syscalls on large models (as in src/fetch/download.ts).
      const out = createWriteStream(file, { highWaterMark: 1 << 20 });
      let writeError: Error | undefined;
      out.on('error', (error) => {
        writeError = error;
      });
      try {
        for await (const chunk of readBody(response)) {
          received += chunk.length;
          this.counts.bytesDown += chunk.length;
          if (received > digest.size) {
            response.destroy();
            throw new RemoteDataError(`cas/${short(key)} has more than the ${digest.size} bytes its digest says`);
          }
          hash.update(chunk);
          if (!out.write(chunk)) await once(out, 'drain');
        }
      } finally {
        await new Promise<void>((resolve) => out.end(() => resolve()));
      }
      if (writeError) throw writeError;
      checkDigest(received, hash.digest('hex'), digest, `cas/${short(key)}`);
      return true;
    });
  }

  /**
   * PUTs an object: bytes in memory, or a file streamed from disk. A file is hashed while it is
   * sent and its last chunk held back until the hash matches `digest`: a file that changed on
   * disk since it was sealed is never completed on the server (a PUT whose body ends short of
   * its Content-Length is discarded by every server), so one machine's bad disk cannot poison
   * the cache the whole team reads.
   */
  async put(store: RemoteStore, key: string, body: Buffer | { file: string; digest: Digest }): Promise<void> {
    await this.withRetries(`PUT ${store}/${short(key)}`, async () => {
      const size = Buffer.isBuffer(body) ? body.length : body.digest.size;
      const response = await this.send('PUT', store, key, {
        length: size,
        write: async (request) => {
          if (Buffer.isBuffer(body)) {
            request.end(body);
            return;
          }
          await pipeline(createReadStream(body.file, { highWaterMark: 1 << 20 }), new VerifyingStream(body), request);
        },
      });
      response.resume();
      const status = response.statusCode ?? 0;
      if (status < 200 || status > 299) throw this.statusError('PUT', store, key, response);
      this.counts.bytesUp += size;
    });
  }

  private async withRetries<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    for (let attempts = 1; ; attempts++) {
      try {
        return await attempt();
      } catch (error) {
        if (this.signal?.aborted) throw this.signal.reason;
        if (!(error instanceof TransientError)) throw error;
        if (attempts > this.retries) {
          throw new RemoteUnreachableError(
            `${error.message} on ${what}, ${attempts} attempt${attempts === 1 ? '' : 's'}`,
            error,
          );
        }
        await sleep(retryDelayMs(attempts, this.timing), undefined, this.signal ? { signal: this.signal } : undefined);
      }
    }
  }

  private statusError(method: string, store: RemoteStore, key: string, response: IncomingMessage): Error {
    const status = response.statusCode ?? 0;
    const text = `HTTP ${status}${response.statusMessage ? ` ${response.statusMessage}` : ''}`;
    if (isRetryableStatus(status)) return new TransientError(text);
    return new RemoteRefusedError(`${text} for ${method} ${store}/${short(key)}`, status);
  }

  /**
   * One request and, for GET and HEAD, its redirects. Transport failures (refused, reset,
   * timed out) become TransientError; a refused redirect becomes RemoteRefusedError.
   */
  private async send(
    method: 'GET' | 'HEAD' | 'PUT',
    store: RemoteStore,
    key: string,
    body?: { length: number; write: (request: http.ClientRequest) => Promise<void> },
  ): Promise<IncomingMessage> {
    let url = new URL(`${store}/${key}`, this.base);
    let headers = { ...this.headers };
    if (body) {
      headers['content-length'] = String(body.length);
      headers['content-type'] = 'application/octet-stream';
    }
    for (let hop = 0; ; hop++) {
      const response = await this.exchange(method, url, headers, body);
      const location = response.headers.location;
      if (method === 'PUT' || !isRedirectStatus(response.statusCode ?? 0) || location === undefined) return response;
      response.resume();
      if (hop >= this.maxRedirects)
        throw new RemoteRefusedError(`more than ${this.maxRedirects} redirects for ${method} ${store}/${short(key)}`);
      try {
        ({ url, headers } = planRedirect(url, location, headers));
      } catch (error) {
        if (error instanceof FetchError)
          throw new RemoteRefusedError(`${error.message} (${method} ${store}/${short(key)})`);
        throw error;
      }
    }
  }

  private exchange(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: { write: (request: http.ClientRequest) => Promise<void> } | undefined,
  ): Promise<IncomingMessage> {
    const isHttps = url.protocol === 'https:';
    const transport = isHttps ? https : http;
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        reject(classifyTransportError(error, this.signal));
      };
      const request = transport.request(url, {
        method,
        headers,
        agent: isHttps ? this.httpsAgent : this.httpAgent,
        ...(this.signal ? { signal: this.signal } : {}),
      });
      // The socket's idle timer covers connect, the wait for headers and every gap in the body.
      request.setTimeout(this.timeoutMs, () => {
        request.destroy(new TransientError(`no answer for ${this.timeoutMs} ms`));
      });
      request.on('error', fail);
      request.once('response', (response) => {
        if (settled) return void response.resume();
        settled = true;
        // A response can come before the body is sent (413, 401): the rest of the upload is moot.
        response.on('error', () => undefined);
        resolve(response);
      });
      if (body)
        body.write(request).catch((error: unknown) => {
          request.destroy(error instanceof Error ? error : new Error(String(error)));
          fail(error);
        });
      else request.end();
    });
  }
}

/** Network-level failures are worth a retry; our own typed errors and cancellation pass through. */
function classifyTransportError(error: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return signal.reason;
  if (error instanceof TransientError || error instanceof LocalBlobChangedError) return error;
  const errno = error as NodeJS.ErrnoException;
  const message = String(errno.message ?? error);
  return new TransientError(errno.code && !message.includes(errno.code) ? `${errno.code} ${message}` : message);
}

/**
 * Reads a response body; a body cut short (the connection closed before Content-Length bytes
 * came, or reset mid-body) is a TransientError, so the attempt is retried.
 */
async function* readBody(response: IncomingMessage): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of response) yield chunk as Buffer;
  } catch (error) {
    if (error instanceof RemoteDataError) throw error;
    throw new TransientError(`the body was cut short (${(error as Error).message})`);
  }
  if (!response.complete) throw new TransientError('the body was cut short');
}

/** Refuses a compressed body (we hash stored bytes) and a Content-Length that cannot be the blob's. */
function checkPlainBody(response: IncomingMessage, expectedSize: number | undefined): void {
  const encoding = response.headers['content-encoding'];
  if (encoding !== undefined && encoding !== 'identity') {
    response.destroy();
    throw new RemoteDataError(`the server sent a ${encoding}-encoded body although identity was asked for`);
  }
  const length = response.headers['content-length'];
  if (expectedSize !== undefined && length !== undefined && Number(length) !== expectedSize) {
    const type = response.headers['content-type'] ?? 'no content type';
    response.destroy();
    throw new RemoteDataError(
      `the server announced ${length} bytes (${type}) for a ${expectedSize}-byte blob${/html/i.test(type) ? ': an HTML page, not the blob' : ''}`,
    );
  }
}

function checkDigest(size: number, sha256: string, expected: Digest, what: string): void {
  if (size !== expected.size) throw new RemoteDataError(`${what} has ${size} bytes, ${expected.size} expected`);
  if (sha256 !== expected.sha256)
    throw new RemoteDataError(`${what} has sha256 ${sha256.slice(0, 12)}…, not the one it is stored under`);
}

/** A key as messages show it: enough to find it on the server, short enough to read. */
function short(key: string): string {
  return `${key.slice(0, 12)}…`;
}

/** Passes a file through, holding its last chunk back until the bytes prove to be `digest`. */
class VerifyingStream extends Transform {
  private readonly hash = createHash('sha256');
  private held: Buffer | undefined;
  private bytes = 0;

  constructor(private readonly expected: { file: string; digest: Digest }) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.held) this.push(this.held);
    this.held = chunk;
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const sha256 = this.hash.digest('hex');
    if (sha256 !== this.expected.digest.sha256 || this.bytes !== this.expected.digest.size) {
      callback(
        new LocalBlobChangedError(
          `${this.expected.file} no longer has the bytes its cache entry recorded (${this.bytes} bytes, sha256 ${sha256.slice(0, 12)}…); it was not uploaded`,
        ),
      );
      return;
    }
    if (this.held) this.push(this.held);
    callback();
  }
}
