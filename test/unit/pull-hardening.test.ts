/**
 * pull against hostile indexes and servers: oversized documents are refused before they are read
 * into memory, a remote index cannot point pull at the user's disk or machine, and credentials
 * come from the environment, go to the index's origin only and are never printed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  DirectoryPublisher,
  indexLocation,
  loadIndex,
  MAX_INDEX_BYTES,
  pullArtifacts,
  resolvePull,
  type LoadedIndex,
} from '../../src/publish/index.js';
import { buildIndex } from '../../src/zoo/index.js';
import { writeSampleVersion } from '../fixtures/sample-zoo.js';

const cli = path.resolve(import.meta.dirname, '../../src/cli/edgezoo.mjs');
const SECRET = 's3cret-Pa55';

let root: string;
let site: string;

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'edgezoo-pull-hostile-'));
  const zoo = path.join(root, 'zoo');
  await writeSampleVersion(zoo, 'tiny-net', '1.0.0', [{ format: 'onnx', precision: 'fp32' }], {
    licenseText: 'license\n',
  });
  site = path.join(root, 'site');
  await new DirectoryPublisher(site).publish(zoo, {});
});
after(() => rm(root, { recursive: true, force: true }));

/** A loopback server; `handle` answers every request. */
async function serve(handle: http.RequestListener): Promise<{ base: string; close: () => Promise<void> }> {
  const server = http.createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The published site, behind HTTP Basic auth with user `zoo` and SECRET; records each request's Authorization. */
function siteWithAuth(seen: Array<{ url: string; auth: string | undefined }>): http.RequestListener {
  const expected = `Basic ${Buffer.from(`zoo:${SECRET}`).toString('base64')}`;
  return async (req, res) => {
    const url = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    seen.push({ url, auth: req.headers.authorization });
    if (req.headers.authorization !== expected) return void res.writeHead(401).end('who are you');
    try {
      res.writeHead(200).end(await readFile(path.join(site, url)));
    } catch {
      res.writeHead(404).end();
    }
  };
}

function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd: root,
      env: { ...process.env, EDGEZOO_CACHE_DIR: path.join(root, 'user-cache'), ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('size caps', () => {
  test('a 600 MiB index announced by its length is refused before its body is read', async () => {
    let sent = 0;
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(600 * 1024 * 1024) });
      const chunk = Buffer.alloc(1 << 20, 0x20);
      const pump = () => {
        while (sent < 600 * 1024 * 1024 && res.write(chunk)) sent += chunk.length;
      };
      res.on('drain', pump);
      pump();
    });
    try {
      await assert.rejects(loadIndex(new URL(`${server.base}/index.json`)), {
        code: 'DOCUMENT_TOO_LARGE',
        message: `${server.base}/index.json is 600 MiB, over 64.0 MiB, the most edgezoo reads for index.json`,
      });
      assert.ok(sent < MAX_INDEX_BYTES, `the server got to send ${sent} bytes`);
    } finally {
      await server.close();
    }
  });

  test('an index streamed without a length is cut off at the cap', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      const chunk = Buffer.alloc(1 << 20, 0x20);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) {}
      };
      res.on('drain', pump);
      pump();
    });
    try {
      const before = process.memoryUsage().rss;
      await assert.rejects(loadIndex(new URL(`${server.base}/index.json`)), {
        code: 'DOCUMENT_TOO_LARGE',
        message: `${server.base}/index.json is larger than 64.0 MiB, the most edgezoo reads for index.json`,
      });
      assert.ok(process.memoryUsage().rss - before < 512 * 1024 * 1024, 'memory stays near the cap');
    } finally {
      await server.close();
    }
  });

  test('the CLI refuses a 600 MiB index file in one line, without a stack', async () => {
    const big = path.join(root, 'big-index.json');
    const handle = await open(big, 'w');
    await handle.truncate(600 * 1024 * 1024); // sparse: no disk used
    await handle.close();
    const result = await runCli(['list', '--index', big], {});
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `edgezoo: ${big} is 600 MiB, over 64.0 MiB, the most edgezoo reads for index.json\nhint: check that the URL points at an edgezoo zoo; nothing was downloaded\n`,
    );
  });

  test('a manifest larger than documents may be is refused', async () => {
    const server = await serve(async (req, res) => {
      const url = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      if (url.endsWith('manifest.json')) {
        res.writeHead(200, { 'content-length': String(32 * 1024 * 1024) });
        res.end();
        return;
      }
      try {
        res.writeHead(200).end(await readFile(path.join(site, url)));
      } catch {
        res.writeHead(404).end();
      }
    });
    try {
      const loaded = await loadIndex(new URL(`${server.base}/index.json`));
      await assert.rejects(
        pullArtifacts(loaded, resolvePull(loaded.index, { name: 'tiny-net' }), {
          outDir: path.join(root, 'out-big-manifest'),
          retries: 0,
        }),
        { code: 'DOCUMENT_TOO_LARGE', message: /^tiny-net-1\.0\.0-manifest\.json from .* is larger than 16\.0 MiB/ },
      );
    } finally {
      await server.close();
    }
  });
});

describe('what a remote index may point at', () => {
  async function hostileIndex(
    url: string,
    location = 'https://zoo.example.org/models/index.json',
  ): Promise<LoadedIndex> {
    const index = await buildIndex(path.join(root, 'zoo'));
    const version = index.models[0]!.versions[0]!;
    version.artifacts[0]!.files[0]!.url = url;
    return { index, location: new URL(location), verified: false, headers: {} };
  }

  for (const url of [
    'file:///etc/passwd',
    'http://127.0.0.1:9/steal',
    'https://localhost/admin',
    'http://[::1]/x',
    'http://mirror.example.org/tiny-net.onnx',
  ]) {
    test(`a remote index naming ${url} is refused before anything is downloaded`, async () => {
      const loaded = await hostileIndex(url);
      const out = path.join(root, 'out-hostile');
      await assert.rejects(pullArtifacts(loaded, resolvePull(loaded.index, { name: 'tiny-net' }), { outDir: out }), {
        code: 'INDEX_URL_REFUSED',
        message: `the index https://zoo.example.org/models/index.json names ${new URL(url).href}; a remote index may only name https:// URLs on other hosts`,
      });
    });
  }

  test('an index on loopback may name http on loopback, a local index may name local files', async () => {
    const server = await serve(async (req, res) => {
      const url = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      res.writeHead(200).end(await readFile(path.join(site, url)).catch(() => Buffer.alloc(0)));
    });
    try {
      const loaded = await loadIndex(new URL(`${server.base}/index.json`));
      const result = await pullArtifacts(loaded, resolvePull(loaded.index, { name: 'tiny-net' }), {
        outDir: path.join(root, 'out-loopback'),
      });
      assert.equal(result.files.length, 4);
      const local = await loadIndex(await indexLocation(site));
      assert.equal(local.location.protocol, 'file:');
      const pulled = await pullArtifacts(local, resolvePull(local.index, { name: 'tiny-net' }), {
        outDir: path.join(root, 'out-local'),
      });
      assert.equal(pulled.files.length, 4);
    } finally {
      await server.close();
    }
  });
});

describe('credentials for an index', () => {
  test('a password in --index is refused without printing it', async () => {
    await assert.rejects(
      indexLocation(`http://zoo:${SECRET}@127.0.0.1:9/index.json`),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'INDEX_URL_CREDENTIALS');
        assert.doesNotMatch(error.message, new RegExp(SECRET));
        return true;
      },
    );
    const result = await runCli(
      ['pull', 'tiny-net', '--index', `https://zoo:${SECRET}@zoo.example.org/index.json`],
      {},
    );
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr,
      'edgezoo: the index URL https://zoo.example.org/index.json carries a user name or password; edgezoo does not take credentials in URLs\nhint: set EDGEZOO_INDEX_TOKEN (sent as a bearer token), or EDGEZOO_INDEX_USER and EDGEZOO_INDEX_PASSWORD, and give the URL without them\n',
    );
  });

  test('credentials from the environment reach the index origin, and are never printed', async () => {
    const seen: Array<{ url: string; auth: string | undefined }> = [];
    const server = await serve(siteWithAuth(seen));
    try {
      const out = path.join(root, 'out-auth');
      const env = { EDGEZOO_INDEX_USER: 'zoo', EDGEZOO_INDEX_PASSWORD: SECRET };
      const ok = await runCli(
        ['pull', 'tiny-net', '--index', `${server.base}/index.json`, '--out', out, '--json'],
        env,
      );
      assert.equal(ok.code, 0, ok.stderr);
      assert.deepEqual(seen.map((s) => s.url).sort(), [
        '/index.json',
        '/tiny-net/1.0.0/LICENSE.txt',
        '/tiny-net/1.0.0/README.md',
        '/tiny-net/1.0.0/manifest.json',
        '/tiny-net/1.0.0/tiny-net-1.0.0-onnx-fp32.onnx',
      ]);
      assert.ok(seen.every((s) => s.auth?.startsWith('Basic ')));
      assert.doesNotMatch(
        ok.stdout + ok.stderr,
        new RegExp(`${SECRET}|${Buffer.from(`zoo:${SECRET}`).toString('base64')}`),
      );

      const wrong = await runCli(['list', '--index', `${server.base}/index.json`], {
        EDGEZOO_INDEX_USER: 'zoo',
        EDGEZOO_INDEX_PASSWORD: 'nope',
      });
      assert.equal(wrong.code, 1);
      assert.equal(
        wrong.stderr,
        `edgezoo: HTTP 401 for ${server.base}/index.json\nhint: the server wants credentials: set EDGEZOO_INDEX_TOKEN, or EDGEZOO_INDEX_USER and EDGEZOO_INDEX_PASSWORD\n`,
      );
    } finally {
      await server.close();
    }
  });

  test('credentials are not sent to another origin the index names', async () => {
    const seenA: Array<{ url: string; auth: string | undefined }> = [];
    const seenB: Array<{ url: string; auth: string | undefined }> = [];
    const other = await serve(async (req, res) => {
      const url = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      seenB.push({ url, auth: req.headers.authorization });
      res.writeHead(200).end(await readFile(path.join(site, url)));
    });
    // The index server rewrites the artifact's URL to the other origin.
    const expected = `Basic ${Buffer.from(`zoo:${SECRET}`).toString('base64')}`;
    const server = await serve(async (req, res) => {
      const url = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      seenA.push({ url, auth: req.headers.authorization });
      if (req.headers.authorization !== expected) return void res.writeHead(401).end();
      let bytes = await readFile(path.join(site, url));
      if (url === '/index.json')
        bytes = Buffer.from(
          bytes
            .toString('utf8')
            .replaceAll(
              '"tiny-net/1.0.0/tiny-net-1.0.0-onnx-fp32.onnx"',
              `"${other.base}/tiny-net/1.0.0/tiny-net-1.0.0-onnx-fp32.onnx"`,
            ),
        );
      res.writeHead(200).end(bytes);
    });
    try {
      const ok = await runCli(
        ['pull', 'tiny-net', '--index', `${server.base}/index.json`, '--out', path.join(root, 'out-two')],
        {
          EDGEZOO_INDEX_USER: 'zoo',
          EDGEZOO_INDEX_PASSWORD: SECRET,
          EDGEZOO_CACHE_DIR: path.join(root, 'cache-two-origins'),
        },
      );
      assert.equal(ok.code, 0, ok.stderr);
      assert.deepEqual(seenB, [{ url: '/tiny-net/1.0.0/tiny-net-1.0.0-onnx-fp32.onnx', auth: undefined }]);
    } finally {
      await server.close();
      await other.close();
    }
  });
});
