/**
 * Pull against a static zoo served on 127.0.0.1: the zoo is built from hand-made byte files,
 * published with the directory publisher, and served by a tiny server with Range and ETag
 * support plus scripted faults (a dropped connection, corrupted bytes, a missing file).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, mkdtemp, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DirectoryPublisher, loadIndex, pullArtifacts, resolvePull } from '../../src/publish/index.js';
import { generateSigningKeyPair, parsePrivateKey, parsePublicKey, yankVersion } from '../../src/zoo/index.js';
import { writeSampleVersion } from '../fixtures/sample-zoo.js';
import { pythonWithCryptography, run } from './pull-clients.js';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/edgezoo.mjs');
type Fault = 'drop-half' | 'corrupt' | 'missing' | 'tamper';

let root: string;
let site: string;
let server: http.Server;
let baseUrl: string;
const faults = new Map<string, Fault>();
const requests: Array<{ url: string; range?: string }> = [];
const keys = generateSigningKeyPair();

function startServer(dir: string): Promise<http.Server> {
  const s = http.createServer(async (req, res) => {
    const url = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push({ url, ...(req.headers.range ? { range: req.headers.range } : {}) });
    const fault = faults.get(url);
    const file = path.join(dir, url);
    let bytes: Buffer;
    try {
      if (fault === 'missing') throw new Error('missing');
      bytes = await readFile(file);
    } catch {
      res.writeHead(404).end('not found');
      return;
    }
    if (fault === 'corrupt')
      bytes = Buffer.concat([bytes.subarray(0, bytes.length - 1), Buffer.from([bytes[bytes.length - 1]! ^ 0xff])]);
    if (fault === 'tamper')
      bytes = Buffer.from(bytes.toString('utf8').replace('"license": "Apache-2.0"', '"license": "MIT"'));
    const etag = `"${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}"`;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range && req.headers['if-range'] === etag) {
      const start = Number(range[1]);
      res.writeHead(206, {
        etag,
        'content-length': bytes.length - start,
        'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}`,
      });
      res.end(bytes.subarray(start));
      return;
    }
    res.writeHead(200, { etag, 'content-length': bytes.length, 'accept-ranges': 'bytes' });
    if (fault === 'drop-half') {
      faults.delete(url); // one drop, then the file is served normally
      res.write(bytes.subarray(0, bytes.length >> 1), () => res.destroy());
      return;
    }
    res.end(bytes);
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'edgezoo-pull-'));
  const zoo = path.join(root, 'zoo');
  await writeSampleVersion(
    zoo,
    'tiny-net',
    '1.0.0',
    [
      { format: 'onnx', precision: 'fp32', size: 3 * 1024 * 1024 },
      { format: 'tflite', precision: 'int8' },
      { format: 'openvino', precision: 'fp16' },
    ],
    { licenseText: 'sample license text\n' },
  );
  await writeSampleVersion(zoo, 'tiny-net', '1.1.0', [{ format: 'onnx', precision: 'fp32' }]);
  await writeSampleVersion(zoo, 'tiny-net', '1.2.0', [{ format: 'onnx', precision: 'fp32' }]);
  await yankVersion(zoo, 'tiny-net', '1.2.0', 'wrong labels');
  site = path.join(root, 'site');
  await new DirectoryPublisher(site).publish(zoo, { signingKey: parsePrivateKey(keys.privateKeyPem) });
  server = await startServer(site);
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(root, { recursive: true, force: true });
});

const fast = { retryTiming: { baseDelayMs: 5, maxDelayMs: 20 }, timeoutMs: 5000 };

async function pull(out: string, request: { name: string; range?: string; format?: string; precision?: string }) {
  const loaded = await loadIndex(new URL(`${baseUrl}/index.json`), { publicKey: parsePublicKey(keys.publicKeyBase64) });
  return pullArtifacts(loaded, resolvePull(loaded.index, request), { outDir: out, ...fast });
}

/** Runs the CLI without blocking this process's event loop (it serves the zoo). */
function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  cwd?: string,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], {
      env: { EDGEZOO_CACHE_DIR: path.join(root, 'user-cache'), ...env },
      ...(cwd ? { cwd } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function sha(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('pull from a static zoo over HTTP', () => {
  test('pulls the newest non-yanked version, verified, with the license', async () => {
    const out = path.join(root, 'out-plain');
    const result = await pull(out, { name: 'tiny-net', range: '1' });
    assert.equal(result.version, '1.1.0', '1.2.0 is yanked, so a range skips it');
    assert.deepEqual((await readdir(out)).sort(), [
      'tiny-net-1.1.0-README.md',
      'tiny-net-1.1.0-manifest.json',
      'tiny-net-1.1.0-onnx-fp32.onnx',
    ]);
    const manifest = JSON.parse(await readFile(path.join(out, 'tiny-net-1.1.0-manifest.json'), 'utf8'));
    assert.deepEqual(manifest.preprocess.mean, [0.485, 0.456, 0.406], 'the preprocessing travels with the model');
    assert.equal(
      await readFile(path.join(out, 'tiny-net-1.1.0-README.md'), 'utf8'),
      await readFile(path.join(site, 'tiny-net', '1.1.0', 'README.md'), 'utf8'),
    );
    const bytes = await readFile(path.join(out, 'tiny-net-1.1.0-onnx-fp32.onnx'));
    assert.equal(sha(bytes), result.files[0]!.sha256);
  });

  test('an exact yanked version is honoured and reported', async () => {
    const result = await pull(path.join(root, 'out-yanked'), { name: 'tiny-net', range: '1.2.0' });
    assert.equal(result.version, '1.2.0');
    assert.deepEqual(result.yanked?.reason, 'wrong labels');
  });

  test('resumes after a dropped connection with a Range request', async () => {
    const out = path.join(root, 'out-resume');
    const url = '/tiny-net/1.0.0/tiny-net-1.0.0-onnx-fp32.onnx';
    faults.set(url, 'drop-half');
    requests.length = 0;
    const result = await pull(out, { name: 'tiny-net', range: '1.0.0', format: 'onnx' });
    const ranged = requests.filter((r) => r.url === url);
    assert.equal(ranged.length, 2);
    assert.match(ranged[1]!.range ?? '', /^bytes=\d+-$/);
    assert.ok(Number(/\d+/.exec(ranged[1]!.range!)![0]) > 0, 'the second request starts where the first stopped');
    const bytes = await readFile(path.join(out, 'tiny-net-1.0.0-onnx-fp32.onnx'));
    assert.equal(bytes.length, 3 * 1024 * 1024);
    assert.equal(sha(bytes), result.files.find((f) => f.name.endsWith('.onnx'))!.sha256);
    assert.deepEqual((await readdir(out)).sort(), [
      'tiny-net-1.0.0-LICENSE.txt',
      'tiny-net-1.0.0-README.md',
      'tiny-net-1.0.0-manifest.json',
      'tiny-net-1.0.0-onnx-fp32.onnx',
    ]);
  });

  test('pulls both files of an OpenVINO IR in parallel', async () => {
    const out = path.join(root, 'out-ov');
    await pull(out, { name: 'tiny-net', range: '1.0.0', format: 'openvino' });
    assert.deepEqual((await readdir(out)).sort(), [
      'tiny-net-1.0.0-LICENSE.txt',
      'tiny-net-1.0.0-README.md',
      'tiny-net-1.0.0-manifest.json',
      'tiny-net-1.0.0-openvino-fp16.bin',
      'tiny-net-1.0.0-openvino-fp16.xml',
    ]);
  });

  test('a corrupted artifact is rejected and nothing is left under its name', async () => {
    const out = path.join(root, 'out-corrupt');
    const name = 'tiny-net-1.0.0-tflite-int8.tflite';
    faults.set(`/tiny-net/1.0.0/${name}`, 'corrupt');
    try {
      const good = sha(await readFile(path.join(site, 'tiny-net/1.0.0', name)));
      await assert.rejects(
        pull(out, { name: 'tiny-net', range: '1.0.0', format: 'tflite' }),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, 'SHA256_MISMATCH');
          assert.match(
            error.message,
            new RegExp(
              `^${name} from ${baseUrl}/tiny-net/1\\.0\\.0/${name} has sha256 [0-9a-f]{64}, but the index says ${good}; nothing was written to ${path.join(out, name).replace(/[.]/g, '\\.')}$`,
            ),
          );
          return true;
        },
      );
      const left = await readdir(out);
      assert.ok(!left.includes(name), 'no file under the final name');
      assert.ok(!left.some((f) => f.startsWith(`${name}.partial`)), 'no partial left behind');
    } finally {
      faults.delete(`/tiny-net/1.0.0/${name}`);
    }
  });

  test('a missing artifact is a clear error', async () => {
    const name = 'tiny-net-1.0.0-tflite-int8.tflite';
    faults.set(`/tiny-net/1.0.0/${name}`, 'missing');
    try {
      await assert.rejects(
        pull(path.join(root, 'out-missing'), { name: 'tiny-net', range: '1.0.0', format: 'tflite' }),
        {
          code: 'ARTIFACT_MISSING',
          message: `${name} is listed in the index but ${baseUrl}/tiny-net/1.0.0/${name} does not exist (HTTP 404)`,
        },
      );
    } finally {
      faults.delete(`/tiny-net/1.0.0/${name}`);
    }
  });

  test('a tampered index is refused when a public key is configured', async () => {
    faults.set('/index.json', 'tamper');
    try {
      await assert.rejects(pull(path.join(root, 'out-tamper'), { name: 'tiny-net' }), {
        code: 'SIGNATURE_INVALID',
        message: `the signature of ${baseUrl}/index.json does not match its bytes under the configured public key`,
      });
    } finally {
      faults.delete('/index.json');
    }
  });

  test('a missing signature is refused when a public key is configured', async () => {
    faults.set('/index.json.sig', 'missing');
    try {
      await assert.rejects(pull(path.join(root, 'out-nosig'), { name: 'tiny-net' }), {
        code: 'SIGNATURE_MISSING',
        message: `${baseUrl}/index.json has no signature (${baseUrl}/index.json.sig not found), and a public key is configured`,
      });
    } finally {
      faults.delete('/index.json.sig');
    }
  });

  test('the CLI pulls with --json and exits 1 with a hint on an unknown model', async () => {
    const out = path.join(root, 'out-cli');
    const env = { ...process.env, EDGEZOO_PUBLIC_KEY: keys.publicKeyBase64 };
    const ok = await runCli(
      ['pull', 'tiny-net@~1.0', '--format', 'tflite', '--index', `${baseUrl}/index.json`, '--out', out, '--json'],
      env,
    );
    assert.equal(ok.status, 0, ok.stderr);
    const json = JSON.parse(ok.stdout);
    assert.equal(json.version, '1.0.0');
    assert.equal(json.signatureVerified, true);
    assert.deepEqual(
      json.files.map((f: { name: string }) => f.name),
      [
        'tiny-net-1.0.0-tflite-int8.tflite',
        'tiny-net-1.0.0-LICENSE.txt',
        'tiny-net-1.0.0-manifest.json',
        'tiny-net-1.0.0-README.md',
      ],
    );

    const bad = await runCli(['pull', 'tiny-nett', '--index', `${baseUrl}/index.json`, '--out', out], env);
    assert.equal(bad.status, 1);
    assert.equal(bad.stderr, 'edgezoo: no model "tiny-nett" in the index\nhint: did you mean tiny-net?\n');

    const usage = await runCli(['pull', 'tiny-net@not-a-range', '--index', `${baseUrl}/index.json`], env);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /"not-a-range" in "tiny-net@not-a-range" is not a semver version or range/);
  });

  test('a repeat pull says what was already there; another folder is served from the shared cache', async () => {
    const index = `${baseUrl}/index.json`;
    const cacheDir = path.join(root, 'cache-test-cache');
    const env = { ...process.env, EDGEZOO_CACHE_DIR: cacheDir };
    const out = path.join(root, 'out-repeat');
    const args = ['pull', 'tiny-net@1.0.0', '--format', 'onnx', '--index', index];
    const first = await runCli([...args, '--out', out], env);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stderr, /^downloaded tiny-net-1\.0\.0-onnx-fp32\.onnx \(3\.0 MiB\)$/m);
    assert.match(first.stderr, /: 4 file\(s\), 4 downloaded \(/);

    const again = await runCli([...args, '--out', out], env);
    assert.equal(again.status, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /^downloaded/m);
    assert.match(again.stderr, /^already there: tiny-net-1\.0\.0-onnx-fp32\.onnx \(3\.0 MiB\)$/m);
    assert.match(again.stderr, /: 4 file\(s\), 0 downloaded \(0 B in [\d.]+ s\), 4 already there; sha256 verified$/m);

    requests.length = 0;
    const elsewhere = await runCli([...args, '--out', path.join(root, 'out-elsewhere'), '--print-path'], env);
    assert.equal(elsewhere.status, 0, elsewhere.stderr);
    assert.equal(elsewhere.stdout, `${path.join(root, 'out-elsewhere', 'tiny-net-1.0.0-onnx-fp32.onnx')}\n`);
    assert.deepEqual(
      requests.map((r) => r.url),
      ['/index.json'],
      'every file came from the shared cache',
    );
    assert.equal(
      sha(await readFile(path.join(root, 'out-elsewhere', 'tiny-net-1.0.0-onnx-fp32.onnx'))),
      sha(await readFile(path.join(out, 'tiny-net-1.0.0-onnx-fp32.onnx'))),
    );
  });

  test('outside a project without --index the error says what to give', async () => {
    const empty = path.join(root, 'no-project');
    await mkdir(empty, { recursive: true });
    const env = { ...process.env };
    delete env.EDGEZOO_INDEX;
    const result = await runCli(['pull', 'tiny-net'], env, empty);
    assert.equal(result.status, 2);
    assert.equal(
      result.stderr,
      'edgezoo: no zoo to read: give --index URL-of-index.json or --from github:OWNER/REPO, or set EDGEZOO_INDEX\nhint: in an edgezoo project, the default is its own zoo (artifacts/zoo/index.json, written by edgezoo build)\n',
    );
  });

  test('list filters by task, format and precision', async () => {
    const index = `${baseUrl}/index.json`;
    const tflite = await runCli(['list', '--index', index, '--format', 'tflite']);
    assert.equal(tflite.status, 0, tflite.stderr);
    assert.equal(tflite.stdout, 'tiny-net  (Apache-2.0, image-classification)\n  1.0.0  tflite/int8 1.0 KiB\n');
    const fp32 = await runCli(['list', '--index', index, '--precision', 'fp32', '--task', 'image-classification']);
    assert.equal(
      fp32.stdout,
      [
        'tiny-net  (Apache-2.0, image-classification)',
        '  1.2.0 [yanked: wrong labels]  onnx/fp32 1.0 KiB',
        '  1.1.0  onnx/fp32 1.0 KiB',
        '  1.0.0  onnx/fp32 3.0 MiB',
        '',
      ].join('\n'),
    );
    const none = await runCli(['list', '--index', index, '--task', 'speech-recognition']);
    assert.equal(none.status, 0);
    assert.equal(none.stdout, 'no model of the index matches the filters\n');
    assert.equal(none.stderr, 'tasks in the index: image-classification\n');
  });

  test('list shows versions with yank marks', async () => {
    const res = await runCli(['list', '--index', `${baseUrl}/index.json`]);
    assert.equal(res.status, 0, res.stderr);
    assert.equal(
      res.stdout,
      [
        'tiny-net  (Apache-2.0, image-classification)',
        '  1.2.0 [yanked: wrong labels]  onnx/fp32 1.0 KiB',
        '  1.1.0  onnx/fp32 1.0 KiB',
        '  1.0.0  onnx/fp32 3.0 MiB, openvino/fp16 3.0 KiB, tflite/int8 1.0 KiB',
        '',
      ].join('\n'),
    );
  });
});

describe('the zero-dependency clients published with the zoo', () => {
  for (const client of ['pull.mjs', 'pull.py'] as const) {
    test(`${client} resumes a dropped download with a Range request, verifies and writes card and manifest`, async () => {
      const out = path.join(root, `out-${client}`);
      const url = '/tiny-net/1.0.0/tiny-net-1.0.0-onnx-fp32.onnx';
      faults.set(url, 'drop-half');
      requests.length = 0;
      const [command, key] =
        client === 'pull.mjs'
          ? [process.execPath, keys.publicKeyBase64]
          : [pythonWithCryptography(), keys.publicKeyBase64];
      const result = await run(
        command,
        [
          path.join(site, client),
          'tiny-net@~1.0',
          '--format',
          'onnx',
          '--index',
          `${baseUrl}/index.json`,
          '--out',
          out,
        ],
        {
          env: { ...process.env, EDGEZOO_PUBLIC_KEY: key },
        },
      );
      faults.delete(url);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, 'pulled tiny-net@1.0.0: 4 file(s), sha256 verified, index signature verified\n');
      const tries = requests.filter((r) => r.url === url);
      assert.equal(tries.length, 2, JSON.stringify(tries));
      assert.match(tries[1]!.range ?? '', /^bytes=[1-9]\d*-$/, 'the second request resumes where the first stopped');
      assert.deepEqual((await readdir(out)).sort(), [
        'tiny-net-1.0.0-LICENSE.txt',
        'tiny-net-1.0.0-README.md',
        'tiny-net-1.0.0-manifest.json',
        'tiny-net-1.0.0-onnx-fp32.onnx',
      ]);
      for (const name of await readdir(out)) {
        const source = name.endsWith('.onnx')
          ? name
          : name.replace('tiny-net-1.0.0-', '').replace('LICENSE.txt', 'LICENSE.txt');
        assert.equal(
          sha(await readFile(path.join(out, name))),
          sha(await readFile(path.join(site, 'tiny-net', '1.0.0', source))),
          name,
        );
      }
    });

    test(`${client} refuses a tampered index under the public key`, async () => {
      faults.set('/index.json', 'tamper');
      try {
        const command = client === 'pull.mjs' ? process.execPath : pythonWithCryptography();
        const result = await run(
          command,
          [
            path.join(site, client),
            'tiny-net',
            '--index',
            `${baseUrl}/index.json`,
            '--out',
            path.join(root, `out-t-${client}`),
          ],
          {
            env: { ...process.env, EDGEZOO_PUBLIC_KEY: keys.publicKeyBase64 },
          },
        );
        assert.equal(result.code, 1);
        assert.equal(
          result.stderr,
          `${client}: the signature of ${baseUrl}/index.json does not match its bytes under the public key; do not use this index\n`,
        );
      } finally {
        faults.delete('/index.json');
      }
    });
  }
});

describe('directory publisher', () => {
  test('publishing again changes nothing; different bytes under a published version are refused', async () => {
    const zoo2 = path.join(root, 'zoo2');
    await writeSampleVersion(zoo2, 'tiny-net', '1.1.0', [{ format: 'onnx', precision: 'fp32', seed: 'other bytes' }]);
    const before = await stat(path.join(site, 'index.json'));
    await assert.rejects(new DirectoryPublisher(site).publish(zoo2, {}), {
      code: 'VERSION_IMMUTABLE',
      message: new RegExp(
        `^${path.join(site, 'tiny-net/1.1.0/tiny-net-1.1.0-onnx-fp32.onnx').replace(/[.]/g, '\\.')} \\(sha256 [0-9a-f]{64}\\) is published|is already published with sha256 [0-9a-f]{64}; the zoo has sha256 [0-9a-f]{64}$`,
      ),
    });
    assert.equal(
      (await stat(path.join(site, 'index.json'))).mtimeMs,
      before.mtimeMs,
      'a refused publish leaves the target as it was',
    );

    const zoo3 = path.join(root, 'zoo3');
    await writeSampleVersion(zoo3, 'other-net', '0.1.0', [{ format: 'tflite', precision: 'fp16' }]);
    const report = await new DirectoryPublisher(site).publish(zoo3, {
      signingKey: parsePrivateKey(keys.privateKeyPem),
    });
    assert.deepEqual(report.versions, [{ name: 'other-net', version: '0.1.0', state: 'new' }]);
    const index = JSON.parse(await readFile(path.join(site, 'index.json'), 'utf8'));
    assert.deepEqual(
      index.models.map((m: { name: string }) => m.name),
      ['other-net', 'tiny-net'],
      'the target index covers versions from both zoos',
    );
    const again = await new DirectoryPublisher(site).publish(zoo3, { signingKey: parsePrivateKey(keys.privateKeyPem) });
    assert.equal(again.filesUploaded, 0);
    assert.deepEqual(again.versions, [{ name: 'other-net', version: '0.1.0', state: 'unchanged' }]);
  });
});
