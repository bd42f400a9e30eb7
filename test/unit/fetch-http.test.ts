import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { downloadToFile, fetchFile, type FetchFileOptions } from '../../src/fetch/index.js';
import type { FileSource } from '../../src/recipe/types.js';

/** 1 MiB of random bytes: large enough to arrive in many chunks, small enough to be fast. */
const PAYLOAD = randomBytes(1024 * 1024);
const PAYLOAD_SHA = createHash('sha256').update(PAYLOAD).digest('hex');
const ETAG = `"${PAYLOAD_SHA.slice(0, 16)}"`;
const HALF = PAYLOAD.length / 2;

interface Hit {
  path: string;
  headers: IncomingHttpHeaders;
}

type Route = (req: IncomingMessage, res: ServerResponse, count: number) => void;

/** A node:http server on a loopback address, with per-path routes, counting and logging requests. */
class TestServer {
  readonly hits: Hit[] = [];
  private readonly counts = new Map<string, number>();
  private readonly routes = new Map<string, Route>();
  private readonly server = http.createServer((req, res) => {
    const route = new URL(req.url ?? '/', 'http://x').pathname;
    this.hits.push({ path: route, headers: req.headers });
    const count = (this.counts.get(route) ?? 0) + 1;
    this.counts.set(route, count);
    const handler = this.routes.get(route);
    if (handler) handler(req, res, count);
    else res.writeHead(404).end('not found');
  });
  port = 0;
  constructor(readonly host: string) {}

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, this.host, resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }
  route(pathname: string, handler: Route): string {
    this.routes.set(pathname, handler);
    return this.url(pathname);
  }
  url(pathname: string): string {
    return `http://${this.host}:${this.port}${pathname}`;
  }
  hitsOf(pathname: string): Hit[] {
    return this.hits.filter((hit) => hit.path === pathname);
  }
  reset(): void {
    this.hits.length = 0;
    this.counts.clear();
    this.routes.clear();
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Serves PAYLOAD honouring Range and If-Range like a well-behaved static server. */
function serveWell(req: IncomingMessage, res: ServerResponse): void {
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const ifRange = req.headers['if-range'];
  if (range && (ifRange === undefined || ifRange === ETAG)) {
    const start = Number(range[1]);
    res.writeHead(206, {
      'content-length': PAYLOAD.length - start,
      'content-range': `bytes ${start}-${PAYLOAD.length - 1}/${PAYLOAD.length}`,
      etag: ETAG,
    });
    res.end(PAYLOAD.subarray(start));
    return;
  }
  res.writeHead(200, { 'content-length': PAYLOAD.length, etag: ETAG });
  res.end(PAYLOAD);
}

/** Announces the whole payload, sends `bytes` of it, then drops the connection. */
function sendThenDrop(res: ServerResponse, bytes: number): void {
  res.writeHead(200, { 'content-length': PAYLOAD.length, etag: ETAG });
  res.write(PAYLOAD.subarray(0, bytes), () => setTimeout(() => res.socket?.destroy(), 20));
}

const primary = new TestServer('127.0.0.1');
// Another loopback address is another host (another origin) to the client.
const other = new TestServer('127.0.0.2');
let workDir: string;
let downloadsDir: string;

function options(extra: Partial<FetchFileOptions> = {}): FetchFileOptions {
  return {
    projectRoot: workDir,
    downloadsDir,
    timeoutMs: 2000,
    retries: 3,
    retryTiming: { baseDelayMs: 5, maxDelayMs: 20 },
    ...extra,
  };
}

function urlSource(url: string, sha256 = PAYLOAD_SHA): FileSource {
  return { location: { kind: 'url', url }, sha256 };
}

/** Nothing may sit under a final cache name unless its bytes hash to that name. */
async function assertCacheHonest(): Promise<void> {
  const dir = path.join(downloadsDir, 'sha256');
  if (!existsSync(dir)) return;
  for (const name of await readdir(dir)) {
    const digest = createHash('sha256')
      .update(await readFile(path.join(dir, name)))
      .digest('hex');
    assert.equal(digest, name, `cache entry ${name} holds other bytes`);
  }
}

async function assertNoFinalFile(sha256: string): Promise<void> {
  assert.equal(existsSync(path.join(downloadsDir, 'sha256', sha256)), false, 'no final file after a failure');
  await assertCacheHonest();
}

before(async () => {
  await primary.start();
  await other.start();
});
after(async () => {
  await primary.stop();
  await other.stop();
});
afterEach(async () => {
  await rm(workDir, { recursive: true, force: true });
});
beforeEach(async () => {
  primary.reset();
  other.reset();
  workDir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-fetch-'));
  downloadsDir = path.join(workDir, 'artifacts', 'downloads');
});

describe('fetchFile over http (loopback test server)', () => {
  it('downloads, verifies and stores under sha256/<hex>, read-only; a second fetch is a cache hit', async () => {
    const url = primary.route('/file', serveWell);
    const first = await fetchFile(urlSource(url), options());
    assert.equal(first.path, path.join(downloadsDir, 'sha256', PAYLOAD_SHA));
    assert.equal(first.sha256, PAYLOAD_SHA);
    assert.equal(first.bytes, PAYLOAD.length);
    assert.equal(first.fromCache, false);
    assert.deepEqual(await readFile(first.path), PAYLOAD);
    assert.equal((await stat(first.path)).mode & 0o777, 0o444);
    assert.deepEqual(await readdir(path.join(downloadsDir, 'tmp')), [], 'no partial, sidecar or lock left');

    const second = await fetchFile(urlSource(url), options());
    assert.equal(second.fromCache, true);
    assert.equal(primary.hitsOf('/file').length, 1, 'a cache hit makes no request');
  });

  it('resumes with Range and If-Range after the connection drops at 50 %', async () => {
    const url = primary.route('/drop', (req, res, count) =>
      count === 1 ? sendThenDrop(res, HALF) : serveWell(req, res),
    );
    const progress: number[] = [];
    const result = await fetchFile(urlSource(url), options({ onProgress: (p) => progress.push(p.received) }));
    assert.equal(result.sha256, PAYLOAD_SHA);
    assert.deepEqual(await readFile(result.path), PAYLOAD);
    const hits = primary.hitsOf('/drop');
    assert.equal(hits.length, 2);
    assert.equal(hits[0]!.headers.range, undefined);
    assert.match(hits[1]!.headers.range ?? '', /^bytes=[1-9]\d*-$/, 'the retry asks for the rest only');
    assert.equal(hits[1]!.headers['if-range'], ETAG);
    assert.equal(progress.at(-1), PAYLOAD.length);
  });

  it('starts over when the server ignores Range (200 instead of 206)', async () => {
    const url = primary.route('/ignore-range', (_req, res, count) => {
      if (count === 1) return sendThenDrop(res, HALF);
      res.writeHead(200, { 'content-length': PAYLOAD.length, etag: ETAG });
      res.end(PAYLOAD);
    });
    const result = await fetchFile(urlSource(url), options());
    assert.deepEqual(await readFile(result.path), PAYLOAD);
    assert.ok(primary.hitsOf('/ignore-range')[1]!.headers.range, 'it did try to resume');
  });

  it('drops the partial and downloads without Range when Content-Range starts elsewhere', async () => {
    const url = primary.route('/wrong-range', (req, res, count) => {
      if (count === 1) return sendThenDrop(res, HALF);
      if (req.headers.range) {
        // Claims a range starting at 0 while we asked for bytes=N-.
        res.writeHead(206, { 'content-range': `bytes 0-${PAYLOAD.length - 1}/${PAYLOAD.length}`, etag: ETAG });
        res.end(PAYLOAD);
        return;
      }
      serveWell(req, res);
    });
    const result = await fetchFile(urlSource(url), options());
    assert.deepEqual(await readFile(result.path), PAYLOAD);
    const hits = primary.hitsOf('/wrong-range');
    assert.equal(hits.length, 3);
    assert.equal(hits[2]!.headers.range, undefined, 'the restart asks for the whole file');
  });

  it('drops the partial when a 206 reports another total length', async () => {
    const url = primary.route('/wrong-total', (req, res, count) => {
      if (count === 1) return sendThenDrop(res, HALF);
      const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
      if (req.headers.range) {
        res.writeHead(206, {
          'content-range': `bytes ${start}-${PAYLOAD.length + 9}/${PAYLOAD.length + 10}`,
          etag: ETAG,
        });
        res.end(Buffer.concat([PAYLOAD.subarray(start), Buffer.alloc(10)]));
        return;
      }
      serveWell(req, res);
    });
    const result = await fetchFile(urlSource(url), options());
    assert.deepEqual(await readFile(result.path), PAYLOAD);
    assert.equal(primary.hitsOf('/wrong-total').length, 3);
  });

  it('downloads afresh once when a resumed file fails its sha256 (a server that changed bytes under one ETag)', async () => {
    const url = primary.route('/spliced', (req, res, count) => {
      if (count === 1) return sendThenDrop(res, HALF);
      if (req.headers.range) {
        const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range)?.[1]);
        res.writeHead(206, { 'content-range': `bytes ${start}-${PAYLOAD.length - 1}/${PAYLOAD.length}`, etag: ETAG });
        res.end(Buffer.alloc(PAYLOAD.length - start, 7));
        return;
      }
      serveWell(req, res);
    });
    const result = await fetchFile(urlSource(url), options());
    assert.deepEqual(await readFile(result.path), PAYLOAD);
    const hits = primary.hitsOf('/spliced');
    assert.equal(hits.length, 3);
    assert.equal(hits[2]!.headers.range, undefined);
  });

  it('restarts without Range on 416', async () => {
    const url = primary.route('/unsatisfiable', (req, res, count) => {
      if (count === 1) return sendThenDrop(res, HALF);
      if (req.headers.range) return void res.writeHead(416).end();
      serveWell(req, res);
    });
    const result = await fetchFile(urlSource(url), options());
    assert.deepEqual(await readFile(result.path), PAYLOAD);
    assert.equal(primary.hitsOf('/unsatisfiable').length, 3);
  });

  it('fails with TRUNCATED when the body always ends before Content-Length, leaving no final file', async () => {
    const url = primary.route('/truncated', (_req, res) => {
      // No validator, so no resume: every attempt starts from 0 and ends early.
      res.writeHead(200, { 'content-length': PAYLOAD.length });
      res.write(PAYLOAD.subarray(0, 700_000), () => res.socket?.end());
    });
    await assert.rejects(fetchFile(urlSource(url), options({ retries: 2 })), {
      code: 'TRUNCATED',
      message: `download of ${url} ended early: got 700000 of 1048576 bytes (3 attempts)`,
    });
    assert.equal(primary.hitsOf('/truncated').length, 3);
    await assertNoFinalFile(PAYLOAD_SHA);
  });

  it('refuses bytes with the wrong sha256: SHA256_MISMATCH names both hashes and the URL, nothing is kept', async () => {
    const url = primary.route('/file', serveWell);
    const wrong = 'a'.repeat(64);
    await assert.rejects(
      fetchFile(urlSource(url, wrong), options()),
      (error: Error & { code?: string; hint?: string }) => {
        assert.equal(error.name, 'Sha256MismatchError');
        assert.equal(error.code, 'SHA256_MISMATCH');
        assert.equal(error.message, `sha256 mismatch for ${url}: expected ${wrong}, got ${PAYLOAD_SHA}`);
        assert.ok(error.hint);
        return true;
      },
    );
    await assertNoFinalFile(wrong);
    assert.deepEqual(await readdir(path.join(downloadsDir, 'tmp')), [], 'the partial download is deleted');
  });

  it('retries a 500 and succeeds on the next 200', async () => {
    const url = primary.route('/flaky', (req, res, count) =>
      count === 1 ? res.writeHead(500).end('oops') : serveWell(req, res),
    );
    const result = await fetchFile(urlSource(url), options());
    assert.equal(result.sha256, PAYLOAD_SHA);
    assert.equal(primary.hitsOf('/flaky').length, 2);
  });

  it('honours Retry-After on 429', async () => {
    const url = primary.route('/busy', (req, res, count) =>
      count === 1 ? res.writeHead(429, { 'retry-after': '1' }).end() : serveWell(req, res),
    );
    const started = Date.now();
    await fetchFile(urlSource(url), options());
    assert.ok(Date.now() - started >= 950, 'waited about the second the server asked for');
  });

  it('gives up on a 5xx that never ends with HTTP_STATUS after the configured retries', async () => {
    const url = primary.route('/down', (_req, res) => res.writeHead(503, 'Service Unavailable').end());
    await assert.rejects(fetchFile(urlSource(url), options({ retries: 2 })), {
      code: 'HTTP_STATUS',
      message: `HTTP 503 Service Unavailable for ${url}`,
    });
    assert.equal(primary.hitsOf('/down').length, 3);
  });

  it('fails with TIMEOUT when the server is slower than the idle timeout', async () => {
    const url = primary.route('/slow', (_req, res) => {
      res.writeHead(200, { 'content-length': PAYLOAD.length, etag: ETAG });
      res.write(PAYLOAD.subarray(0, 1000)); // then silence
    });
    const started = Date.now();
    await assert.rejects(fetchFile(urlSource(url), options({ timeoutMs: 200, retries: 1 })), {
      code: 'TIMEOUT',
      message: `no data from ${url} for 200 ms (2 attempts)`,
    });
    assert.equal(primary.hitsOf('/slow').length, 2);
    assert.ok(Date.now() - started < 3000);
    await assertNoFinalFile(PAYLOAD_SHA);
  });

  it('does not forward credentials when a redirect goes to another host', async () => {
    const target = other.route('/file', serveWell);
    const url = primary.route('/elsewhere', (_req, res) => res.writeHead(302, { location: target }).end());
    const headers = {
      Authorization: 'Bearer secret',
      'X-Api-Token': 'secret2',
      'X-Custom-Secretish': 'x',
      Accept: '*/*',
    };
    const result = await fetchFile(urlSource(url), options({ headers, sensitiveHeaders: ['x-custom-secretish'] }));
    assert.equal(result.sha256, PAYLOAD_SHA);
    const seen = other.hitsOf('/file')[0]!.headers;
    assert.equal(seen.authorization, undefined);
    assert.equal(seen['x-api-token'], undefined);
    assert.equal(seen['x-custom-secretish'], undefined);
    assert.equal(seen.accept, '*/*', 'ordinary headers still go');
    assert.equal(primary.hitsOf('/elsewhere')[0]!.headers.authorization, 'Bearer secret', 'the origin got them');
  });

  it('keeps credentials on a same-origin redirect', async () => {
    primary.route('/file', serveWell);
    const url = primary.route('/moved', (_req, res) => res.writeHead(301, { location: '/file' }).end());
    await fetchFile(urlSource(url), options({ headers: { authorization: 'Bearer secret' } }));
    assert.equal(primary.hitsOf('/file')[0]!.headers.authorization, 'Bearer secret');
  });

  it('stops a redirect loop with TOO_MANY_REDIRECTS', async () => {
    const url = primary.route('/loop', (_req, res) => res.writeHead(302, { location: '/loop' }).end());
    await assert.rejects(fetchFile(urlSource(url), options()), {
      code: 'TOO_MANY_REDIRECTS',
      message: `too many redirects from ${url} (more than 10)`,
    });
    assert.equal(primary.hitsOf('/loop').length, 11);
  });

  it('fails a 404 at once with HTTP_STATUS (no retry)', async () => {
    const url = primary.url('/missing');
    await assert.rejects(fetchFile(urlSource(url), options()), (error: Error & { code?: string; status?: number }) => {
      assert.equal(error.code, 'HTTP_STATUS');
      assert.equal(error.status, 404);
      assert.equal(error.message, `HTTP 404 Not Found for ${url}`);
      return true;
    });
    assert.equal(primary.hitsOf('/missing').length, 1);
    await assertNoFinalFile(PAYLOAD_SHA);
  });

  it('refuses an announced Content-Length over the cap before reading the body', async () => {
    const url = primary.route('/file', serveWell);
    await assert.rejects(fetchFile(urlSource(url), options({ maxBytes: 1000 })), {
      code: 'TOO_LARGE',
      message: `refusing ${url}: the server announced ${PAYLOAD.length} bytes, over the cap of 1000 bytes`,
    });
    await assertNoFinalFile(PAYLOAD_SHA);
  });

  it('aborts a stream without Content-Length once it passes the cap', async () => {
    const url = primary.route('/chunked', (_req, res) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      res.end(PAYLOAD);
    });
    await assert.rejects(fetchFile(urlSource(url), options({ maxBytes: 100_000 })), {
      code: 'TOO_LARGE',
      message: `refusing ${url}: the download passed the cap of 100000 bytes`,
    });
    await assertNoFinalFile(PAYLOAD_SHA);
    assert.deepEqual(await readdir(path.join(downloadsDir, 'tmp')), []);
  });

  it('refuses plain http to a host that is not loopback, without a request', async () => {
    await assert.rejects(fetchFile(urlSource('http://example.com/model.onnx'), options()), {
      code: 'INSECURE_URL',
      message: 'refusing http://example.com/model.onnx: plain http is only allowed for loopback hosts',
    });
  });

  it('lets two concurrent fetches of one file share a single download', async () => {
    const url = primary.route('/shared', (req, res) => setTimeout(() => serveWell(req, res), 100));
    const [a, b] = await Promise.all([fetchFile(urlSource(url), options()), fetchFile(urlSource(url), options())]);
    assert.equal(a.path, b.path);
    assert.deepEqual(await readFile(a.path), PAYLOAD);
    assert.equal(primary.hitsOf('/shared').length, 1, 'the second waited for the lock and reused the file');
    assert.deepEqual([a.fromCache, b.fromCache].sort(), [false, true]);
  });

  it('re-downloads a damaged cache entry', async () => {
    const url = primary.route('/file', serveWell);
    const first = await fetchFile(urlSource(url), options());
    await rm(first.path);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(first.path, 'damaged');
    const again = await fetchFile(urlSource(url), options());
    assert.equal(again.fromCache, false);
    assert.deepEqual(await readFile(again.path), PAYLOAD);
  });

  it('stops when the signal aborts and keeps the partial for a later resume', async () => {
    const url = primary.route('/stall', (_req, res) => {
      res.writeHead(200, { 'content-length': PAYLOAD.length, etag: ETAG });
      res.write(PAYLOAD.subarray(0, HALF));
    });
    const controller = new AbortController();
    const pending = fetchFile(urlSource(url), options({ signal: controller.signal, timeoutMs: 10_000 }));
    setTimeout(() => controller.abort(), 150);
    await assert.rejects(pending, { name: 'AbortError' });
    await assertNoFinalFile(PAYLOAD_SHA);
    assert.ok(existsSync(path.join(downloadsDir, 'tmp', `${PAYLOAD_SHA}.partial`)));
    assert.equal(
      existsSync(path.join(downloadsDir, 'tmp', `${PAYLOAD_SHA}.partial.lock`)),
      false,
      'the lock is released',
    );
  });
});

describe('downloadToFile (the core the pull client reuses)', () => {
  it('writes to the destination only when complete, and reports the final URL after redirects', async () => {
    const target = primary.route('/file', serveWell);
    const url = primary.route('/go', (_req, res) => res.writeHead(307, { location: target }).end());
    const destination = path.join(workDir, 'out', 'model.bin');
    const result = await downloadToFile({ url, destination, sha256: PAYLOAD_SHA, retryTiming: { baseDelayMs: 1 } });
    assert.equal(result.finalUrl, target);
    assert.equal(result.reused, false);
    assert.deepEqual(await readFile(destination), PAYLOAD);
    assert.deepEqual((await readdir(path.dirname(destination))).sort(), ['model.bin']);
    const again = await downloadToFile({ url, destination, sha256: PAYLOAD_SHA });
    assert.equal(again.reused, true);
    assert.equal(again.attempts, 0);
  });

  it('works without an expected sha256 and returns the one it computed', async () => {
    const url = primary.route('/file', serveWell);
    const destination = path.join(workDir, 'index.json');
    const result = await downloadToFile({ url, destination });
    assert.equal(result.sha256, PAYLOAD_SHA);
    assert.equal(result.bytes, PAYLOAD.length);
  });
});
