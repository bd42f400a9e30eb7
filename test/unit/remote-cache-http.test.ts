/**
 * The remote cache against servers that misbehave on purpose: a small HTTP cache on loopback
 * (GET/HEAD/PUT over a Map, as nginx with WebDAV behaves) that can cut bodies short, lie about
 * bytes, answer HTML, redirect, stall or refuse. Every case must end in a verified hit or a
 * miss, never a wrong file, with the warnings a person should see and no more.
 * (The same layer against real nginx: test/integration/remote-cache.test.ts.)
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { type CacheEntry, LocalCache, RemoteCache, type RemoteCacheOptions } from '../../src/cache/index.js';
import { LocalBlobChangedError } from '../../src/cache/remote-errors.js';
import { RemoteHttpClient } from '../../src/cache/remote-http.js';
import {
  decodeActionResult,
  encodeActionResult,
  encodeRecord,
  REMOTE_FORMAT,
  remoteActionKey,
} from '../../src/cache/remote-protocol.js';
import type { Fingerprint } from '../../src/plan/index.js';

const temporaryDirs: string[] = [];
const servers: http.Server[] = [];
after(async () => {
  for (const server of servers) server.closeAllConnections?.();
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  for (const dir of temporaryDirs) await rm(dir, { recursive: true, force: true });
});

const sha = (bytes: string | Buffer) => createHash('sha256').update(bytes).digest('hex');
const fingerprint = (char: string) => char.repeat(64) as Fingerprint;
const FAST = { retryTiming: { baseDelayMs: 5, maxDelayMs: 20 } };

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => boolean | undefined;

interface TestServer {
  url: string;
  store: Map<string, Buffer>;
  log: string[];
  headers: http.IncomingHttpHeaders[];
  /** Runs first; return true when it answered. */
  misbehave: Handler | undefined;
}

/** A bazel-remote style cache in memory; PUT answers 201 like nginx. */
async function startServer(): Promise<TestServer> {
  const state: TestServer = { url: '', store: new Map(), log: [], headers: [], misbehave: undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('aborted', () => state.log.push(`${req.method} ${req.url} aborted`));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      state.log.push(`${req.method} ${req.url}`);
      state.headers.push(req.headers);
      if (state.misbehave?.(req, res, body)) return;
      const key = req.url ?? '';
      if (req.method === 'PUT') {
        state.store.set(key, body);
        return void res.writeHead(201).end();
      }
      const stored = state.store.get(key);
      if (!stored) return void res.writeHead(404, { 'content-type': 'text/html' }).end('<html>not found</html>');
      res.writeHead(200, { 'content-length': stored.length, 'content-type': 'application/octet-stream' });
      res.end(req.method === 'HEAD' ? undefined : stored);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return state;
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-remote-'));
  temporaryDirs.push(dir);
  return dir;
}

async function remoteCache(url: string, options: Partial<RemoteCacheOptions> = {}) {
  const dir = await tempDir();
  const local = new LocalCache(path.join(dir, 'cache'));
  const warnings: string[] = [];
  const cache = new RemoteCache(local, {
    url: new URL(url),
    ...FAST,
    onWarning: (message) => warnings.push(message),
    ...options,
  });
  return { cache, local, warnings, dir };
}

async function putEntry(cache: RemoteCache | LocalCache, fp: Fingerprint, files: Record<string, string | Buffer>) {
  const pending = await cache.begin();
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(pending.outDir, name)), { recursive: true });
    await writeFile(path.join(pending.outDir, name), content);
  }
  return cache.put(fp, pending, { stepId: 'm/convert/onnx/fp32', result: { status: 'ok', figures: { n: 1 } } });
}

/** Uploads one entry through a first builder; returns what the server now holds for it. */
async function seed(server: TestServer, fp: Fingerprint, files: Record<string, string | Buffer>) {
  const first = await remoteCache(server.url);
  await putEntry(first.cache, fp, files);
  await first.cache.flush();
  first.cache.close();
  assert.equal(first.cache.stats().uploaded, 1, first.warnings.join('\n'));
  const action = decodeActionResult(server.store.get(`/ac/${remoteActionKey(fp)}`)!);
  return { action, blob: (name: string) => `/cas/${action.files.find((file) => file.path === name)!.sha256}` };
}

async function readEntry(entry: CacheEntry | undefined): Promise<Record<string, string>> {
  assert.ok(entry, 'expected a cache entry');
  const out: Record<string, string> = {};
  for (const file of entry.files) out[file] = await readFile(path.join(entry.dir, file), 'utf8');
  return out;
}

describe('remote cache over HTTP', () => {
  it('uploads blobs then the action result, and a second machine gets the same entry back', async () => {
    const server = await startServer();
    const fp = fingerprint('1');
    await seed(server, fp, { 'model.onnx': 'onnx bytes', 'sub/report.json': '{"a":1}', 'empty.txt': '' });
    const puts = server.log.filter((line) => line.startsWith('PUT'));
    assert.equal(puts.length, 4, 'two files, the record, the action result; never the empty file');
    assert.equal(puts.at(-1), `PUT /ac/${remoteActionKey(fp)}`, 'the action result goes last');

    const second = await remoteCache(server.url);
    const entry = await second.cache.get(fp);
    assert.deepEqual(await readEntry(entry), {
      'empty.txt': '',
      'model.onnx': 'onnx bytes',
      'sub/report.json': '{"a":1}',
    });
    assert.deepEqual(entry!.result, { status: 'ok', figures: { n: 1 } });
    assert.ok(await second.local.get(fp), 'sealed into the local cache');
    const stats = second.cache.stats();
    assert.equal(stats.hits, 1);
    assert.equal(stats.bytesDown > 20, true);
    assert.deepEqual(second.warnings, []);
    // Found locally now: no request at all.
    const before = server.log.length;
    await second.cache.get(fp);
    assert.equal(server.log.length, before);
    second.cache.close();
  });

  it('answers a miss for an unknown entry and for one whose blob the server lost', async () => {
    const server = await startServer();
    const { cache, warnings } = await remoteCache(server.url);
    assert.equal(await cache.get(fingerprint('2')), undefined);
    const fp = fingerprint('3');
    const { blob } = await seed(server, fp, { 'model.onnx': 'lost bytes' });
    server.store.delete(blob('model.onnx'));
    assert.equal(await cache.get(fp), undefined);
    assert.equal(cache.stats().misses, 2);
    assert.deepEqual(warnings, []);
    cache.close();
  });

  it('retries a body cut short, and gives up on a server that always cuts it with one warning', async () => {
    const server = await startServer();
    const fp = fingerprint('4');
    const { blob } = await seed(server, fp, { 'model.onnx': 'x'.repeat(100_000) });
    let cuts = 1;
    server.misbehave = (req, res) => {
      if (req.url !== blob('model.onnx') || cuts <= 0) return false;
      cuts -= 1;
      res.writeHead(200, { 'content-length': 100_000 });
      res.write('x'.repeat(1000));
      setTimeout(() => res.destroy(), 10);
      return true;
    };
    const once = await remoteCache(server.url);
    assert.ok(await once.cache.get(fp), 'the second attempt gets the whole body');
    assert.deepEqual(once.warnings, []);
    once.cache.close();

    cuts = 100;
    const always = await remoteCache(server.url);
    assert.equal(await always.cache.get(fp), undefined);
    assert.equal(always.warnings.length, 1);
    assert.match(
      always.warnings[0]!,
      /^remote cache http:\/\/127\.0\.0\.1:\d+\/: unreachable \(the body was cut short \(aborted\) on GET cas\/[0-9a-f]{12}…, 3 attempts\); building with the local cache only$/,
    );
    assert.deepEqual(await readdir(always.local.root), [], 'the pending entry was discarded');
    always.cache.close();
  });

  it('ignores a blob with wrong bytes, says so, and re-sends its own copy though the server claims to have it', async () => {
    const server = await startServer();
    const fp = fingerprint('5');
    const { blob } = await seed(server, fp, { 'model.onnx': 'good bytes', 'other.bin': 'fine' });
    const good = server.store.get(blob('model.onnx'))!;
    server.store.set(blob('model.onnx'), Buffer.from('evil bytes'));
    const { cache, local, warnings } = await remoteCache(server.url);
    assert.equal(await cache.get(fp), undefined);
    assert.deepEqual(warnings, [
      `remote cache entry ${'5'.repeat(12)} ignored: cas/${sha('good bytes').slice(0, 12)}… has sha256 ${sha('evil bytes').slice(0, 12)}…, not the one it is stored under; building it here`,
    ]);
    assert.equal(await local.get(fp), undefined, 'nothing of it kept');
    assert.equal(cache.stats().corrupt, 1);

    const seen = server.log.length;
    await putEntry(cache, fp, { 'model.onnx': 'good bytes', 'other.bin': 'fine' });
    await cache.flush();
    assert.deepEqual(server.store.get(blob('model.onnx')), good, 'the bad blob was overwritten');
    const uploads = server.log.slice(seen);
    assert.ok(uploads.includes(`PUT ${blob('model.onnx')}`), 'sent without asking HEAD');
    assert.ok(!uploads.includes(`HEAD ${blob('model.onnx')}`));
    assert.ok(uploads.includes(`HEAD ${blob('other.bin')}`));
    assert.ok(!uploads.includes(`PUT ${blob('other.bin')}`), 'blobs the server has are not sent again');
    cache.close();
  });

  it('cuts off a body longer than the digest says, and refuses an HTML page in place of a blob', async () => {
    const server = await startServer();
    const fp = fingerprint('6');
    const { blob } = await seed(server, fp, { 'model.onnx': 'four' });
    let streamed = 0;
    server.misbehave = (req, res) => {
      if (req.url !== blob('model.onnx')) return false;
      res.writeHead(200); // chunked, no length: keeps streaming until the client hangs up
      const timer = setInterval(() => {
        streamed += 65536;
        if (!res.write(Buffer.alloc(65536)) && streamed > 64 << 20) clearInterval(timer);
      }, 1);
      res.on('close', () => clearInterval(timer));
      return true;
    };
    const { cache, warnings } = await remoteCache(server.url);
    assert.equal(await cache.get(fp), undefined);
    assert.match(
      warnings[0]!,
      new RegExp(`ignored: cas/${sha('four').slice(0, 12)}… has more than the 4 bytes its digest says`),
    );
    assert.ok(streamed < 16 << 20, `stopped reading early (${streamed} bytes sent)`);

    server.misbehave = (req, res) => {
      if (req.url !== blob('model.onnx')) return false;
      const page = '<html><body>Please sign in</body></html>';
      res.writeHead(200, { 'content-type': 'text/html', 'content-length': page.length }).end(page);
      return true;
    };
    assert.equal(await cache.get(fp), undefined);
    assert.equal(
      warnings[1],
      `remote cache entry ${'6'.repeat(12)} ignored: the server announced 40 bytes (text/html) for a 4-byte blob: an HTML page, not the blob; building it here`,
    );
    cache.close();
  });

  it('stops reading a server that keeps serving corrupt entries', async () => {
    const server = await startServer();
    server.misbehave = (req, res) => {
      if (!req.url?.startsWith('/ac/')) return false;
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Login</title>');
      return true;
    };
    const { cache, warnings } = await remoteCache(server.url);
    for (const char of ['a', 'b', 'c', 'd']) assert.equal(await cache.get(fingerprint(char)), undefined);
    assert.equal(warnings.length, 4);
    assert.match(
      warnings[0]!,
      /^remote cache entry a{12} ignored: its action result (is not a valid protobuf|has no entry record)/,
    );
    assert.match(warnings[3]!, /: served 3 corrupt entries; building with the local cache only$/);
    assert.equal(server.log.filter((line) => line.startsWith('GET')).length, 3, 'the fourth look-up never asked');
    cache.close();
  });

  it('never writes outside the entry, whatever paths a server names', async () => {
    const server = await startServer();
    const fp = fingerprint('7');
    const evil = Buffer.from('owned');
    const record = encodeRecord({
      format: REMOTE_FORMAT,
      fingerprint: fp,
      stepId: 'x',
      createdAt: 'now',
      result: { status: 'ok' },
      files: [{ path: '../../escaped.txt', sha256: sha(evil), size: evil.length }],
    });
    server.store.set(`/cas/${sha(evil)}`, evil);
    server.store.set(`/cas/${sha(record)}`, record);
    server.store.set(
      `/ac/${remoteActionKey(fp)}`,
      Buffer.from(
        encodeActionResult({
          record: { sha256: sha(record), size: record.length },
          files: [{ path: '../../escaped.txt', sha256: sha(evil), size: evil.length }],
        }),
      ),
    );
    const { cache, dir, warnings } = await remoteCache(server.url);
    assert.equal(await cache.get(fp), undefined);
    assert.match(warnings[0]!, /its entry record names an unsafe path "\.\.\/\.\.\/escaped\.txt"/);
    assert.equal(existsSync(path.join(dir, 'escaped.txt')), false);
    assert.equal(existsSync(path.join(dir, '..', 'escaped.txt')), false);
    cache.close();
  });

  it('follows a redirect to another origin without the credentials, and refuses one to plain http off loopback', async () => {
    const server = await startServer();
    const mirror = await startServer();
    const fp = fingerprint('8');
    await seed(server, fp, { 'model.onnx': 'redirected bytes' });
    for (const [key, value] of server.store) mirror.store.set(key, value);
    server.misbehave = (req, res) => {
      if (!req.url?.startsWith('/cas/')) return false;
      res.writeHead(307, { location: `${mirror.url}${req.url.slice(1)}` }).end();
      return true;
    };
    const { cache, warnings } = await remoteCache(server.url, { headers: { authorization: 'Bearer s3cret' } });
    assert.deepEqual(await readEntry(await cache.get(fp)), { 'model.onnx': 'redirected bytes' });
    assert.deepEqual(warnings, []);
    assert.ok(
      server.headers.every(
        (headers, i) => !server.log[i]!.startsWith('GET') || headers.authorization === 'Bearer s3cret',
      ),
    );
    assert.ok(mirror.headers.length > 0 && mirror.headers.every((headers) => headers.authorization === undefined));
    cache.close();

    server.misbehave = (req, res) => {
      res.writeHead(302, { location: `http://cache.example.org${req.url}` }).end();
      return true;
    };
    const refused = await remoteCache(server.url);
    assert.equal(await refused.cache.get(fingerprint('9')), undefined);
    assert.match(
      refused.warnings[0]!,
      /: refused access \(refusing http:\/\/cache\.example\.org\/ac\/[0-9a-f]{64}: plain http is only allowed for loopback hosts \(GET ac\/[0-9a-f]{12}…\)\); building with the local cache only$/,
    );
    refused.cache.close();
  });

  it('gives up on a server that never answers after the idle timeout, with one warning for many look-ups', async () => {
    const server = await startServer();
    server.misbehave = () => true; // accepts, reads the request, never answers
    const { cache, warnings } = await remoteCache(server.url, { timeoutMs: 200, retries: 1 });
    const started = Date.now();
    const results = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((char) => cache.get(fingerprint(char))));
    assert.ok(results.every((result) => result === undefined));
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0]!,
      /: unreachable \(no answer for 200 ms on GET ac\/[0-9a-f]{12}…, 2 attempts\); building with the local cache only$/,
    );
    // Once off, neither look-ups nor uploads touch the server.
    const requests = server.log.length;
    await putEntry(cache, fingerprint('f'), { 'a.txt': 'a' });
    await cache.get(fingerprint('0'));
    await cache.flush();
    assert.equal(server.log.length, requests);
    cache.close();
  });

  it('goes on with one warning when nothing listens', async () => {
    const server = await startServer();
    const url = server.url;
    await new Promise((resolve) => servers.pop()!.close(resolve));
    const { cache, warnings } = await remoteCache(url);
    const results = await Promise.all(['a', 'b', 'c'].map((char) => cache.get(fingerprint(char))));
    assert.deepEqual(results, [undefined, undefined, undefined]);
    await putEntry(cache, fingerprint('d'), { 'a.txt': 'a' });
    await cache.flush();
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0]!,
      /: unreachable \(connect ECONNREFUSED 127\.0\.0\.1:\d+ on GET ac\/[0-9a-f]{12}…, 3 attempts\); building/,
    );
    assert.match(cache.stats().disabled ?? '', /^unreachable/);
    cache.close();
  });

  it('stops uploading when the server refuses uploads, but keeps reading; warns once about a blob too large', async () => {
    const server = await startServer();
    const fp = fingerprint('a');
    await seed(server, fp, { 'model.onnx': 'shared' });
    server.misbehave = (req, res) => {
      if (req.method !== 'PUT') return false;
      res.writeHead(req.url?.includes(sha('big')) ? 413 : 403, { 'content-type': 'text/html' }).end('<html>no</html>');
      return true;
    };
    const { cache, warnings } = await remoteCache(server.url);
    await putEntry(cache, fingerprint('b'), { 'big.bin': 'big' });
    await cache.flush();
    assert.equal(
      warnings[0],
      `upload of cache entry ${'b'.repeat(12)} refused as too large (HTTP 413 Payload Too Large for PUT cas/${sha('big').slice(0, 12)}…); raise the server's body size limit (nginx: client_max_body_size 0)`,
    );
    await putEntry(cache, fingerprint('c'), { 'small.bin': 'small' });
    await cache.flush();
    assert.match(
      warnings[1]!,
      /^remote cache http:\/\/127\.0\.0\.1:\d+\/: uploads refused \(HTTP 403 Forbidden for PUT cas\/[0-9a-f]{12}…\); going on without uploading$/,
    );
    await putEntry(cache, fingerprint('d'), { 'more.bin': 'more' });
    await cache.flush();
    assert.equal(warnings.length, 2);
    assert.ok(await cache.get(fp), 'reads still work');
    const stats = cache.stats();
    assert.equal(stats.notUploaded, 3, 'the last one was not even tried');
    assert.equal(stats.uploaded, 0);
    cache.close();
  });

  it('in read-only mode only reads', async () => {
    const server = await startServer();
    const fp = fingerprint('e');
    await seed(server, fp, { 'model.onnx': 'shared' });
    const requests = server.log.length;
    const { cache, warnings } = await remoteCache(server.url, { readOnly: true });
    assert.ok(await cache.get(fp));
    await putEntry(cache, fingerprint('f'), { 'new.bin': 'new' });
    await cache.flush();
    assert.deepEqual(
      server.log.slice(requests).map((line) => line.split(' ')[0]),
      ['GET', 'GET', 'GET'],
    );
    assert.deepEqual(warnings, []);
    assert.equal(cache.stats().readOnly, true);
    cache.close();
  });

  it('refuses to complete an upload of a file whose bytes changed since it was sealed', async () => {
    const server = await startServer();
    const dir = await tempDir();
    const file = path.join(dir, 'model.onnx');
    await writeFile(file, 'changed on disk!');
    const client = new RemoteHttpClient({ baseUrl: new URL(server.url), ...FAST });
    const digest = { sha256: sha('sealed content!!'), size: 16 };
    await assert.rejects(client.put('cas', digest.sha256, { file, digest }), (error: unknown) => {
      assert.ok(error instanceof LocalBlobChangedError);
      assert.match(
        error.message,
        /model\.onnx no longer has the bytes its cache entry recorded \(16 bytes, sha256 [0-9a-f]{12}…\); it was not uploaded$/,
      );
      return true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(server.store.has(`/cas/${digest.sha256}`), false, 'the server never got a whole body');
    client.close();
  });

  it('answers a miss without a warning when the build is interrupted mid-download', async () => {
    const server = await startServer();
    const fp = fingerprint('c');
    const { blob } = await seed(server, fp, { 'model.onnx': 'slow' });
    server.misbehave = (req, res) => {
      if (req.url !== blob('model.onnx')) return false;
      res.writeHead(200, { 'content-length': 4 });
      res.write('sl');
      return true;
    };
    const controller = new AbortController();
    const { cache, warnings, local } = await remoteCache(server.url, { signal: controller.signal });
    const lookup = cache.get(fp);
    setTimeout(() => controller.abort(), 100);
    assert.equal(await lookup, undefined);
    assert.deepEqual(warnings, []);
    assert.deepEqual(
      (await readdir(local.root)).filter((name) => !name.startsWith('.trash')),
      [],
      'the pending entry was discarded',
    );
    cache.close();
  });
});
