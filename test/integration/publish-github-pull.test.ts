/**
 * A zoo published to the GitHub stand-in on loopback, then pulled from it by all three clients:
 * `edgezoo pull --from github:o/r`, and the pull.mjs and pull.py published on the rolling
 * `edgezoo-index` release (run as downloaded, with the index URL and public key filled in).
 * A tampered asset is refused by all three; a yank reaches the index; the token only goes to the API.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GitHubReleasesPublisher } from '../../src/publish/index.js';
import { generateSigningKeyPair, parseIndex, parsePrivateKey, yankVersion } from '../../src/zoo/index.js';
import { writeSampleVersion } from '../fixtures/sample-zoo.js';
import { FakeGitHub } from './publish-github-fake.js';
import { edgezooCli, pythonWithCryptography, run, pythonWithoutCryptography } from './pull-clients.js';

let root: string;
let zoo: string;
const github = new FakeGitHub();
const keys = generateSigningKeyPair();

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'edgezoo-gh-pull-'));
  zoo = path.join(root, 'zoo');
  await writeSampleVersion(
    zoo,
    'tiny-net',
    '1.0.0',
    [
      { format: 'onnx', precision: 'fp32', size: 256 * 1024 },
      { format: 'openvino', precision: 'fp16' },
    ],
    { licenseText: 'license\n' },
  );
  await writeSampleVersion(zoo, 'tiny-net', '1.1.0', [{ format: 'onnx', precision: 'fp32' }]);
  await github.start();
});
after(async () => {
  await github.stop();
  await rm(root, { recursive: true, force: true });
});

function publisher(): GitHubReleasesPublisher {
  return new GitHubReleasesPublisher({
    owner: 'o',
    repo: 'r',
    token: 'secret-token',
    baseUrl: github.base,
    webUrl: github.base,
    waitUnitMs: 5,
    spaceWrites: false,
  });
}

function indexRelease() {
  return github.releases.find((r) => r.tag_name === 'edgezoo-index');
}

function asset(tag: string, name: string): Buffer {
  const release = github.releases.find((r) => r.tag_name === tag)!;
  return release.assets.find((a) => a.name === name && a.state === 'uploaded')!.bytes;
}

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** The published clients, saved as a user downloads them. */
async function downloadClients(dir: string): Promise<{ mjs: string; py: string }> {
  await mkdir(dir, { recursive: true });
  const mjs = path.join(dir, 'pull.mjs');
  const py = path.join(dir, 'pull.py');
  await writeFile(mjs, asset('edgezoo-index', 'pull.mjs'));
  await writeFile(py, asset('edgezoo-index', 'pull.py'));
  return { mjs, py };
}

const env = (extra: Record<string, string> = {}) => {
  const base = { ...process.env };
  for (const name of ['EDGEZOO_INDEX', 'EDGEZOO_PUBLIC_KEY', 'EDGEZOO_GITHUB_URL']) delete base[name];
  return { ...base, EDGEZOO_CACHE_DIR: path.join(root, 'user-cache', String(Math.random())), ...extra };
};

describe('GitHub: publish the index, pull with every client', () => {
  test('the index, its signature and the clients go on a rolling edgezoo-index release', async () => {
    const report = await publisher().publish(zoo, { signingKey: parsePrivateKey(keys.privateKeyPem) });
    assert.equal(report.signed, true);
    assert.equal(report.indexUrl, `${github.base}/o/r/releases/download/edgezoo-index/index.json`);
    const release = indexRelease()!;
    assert.equal(release.draft, false);
    assert.equal(release.prerelease, true, 'a prerelease, never the repository\'s "latest"');
    assert.deepEqual(release.assets.map((a) => `${a.name}:${a.state}`).sort(), [
      'index.json.sig:uploaded',
      'index.json:uploaded',
      'pull.mjs:uploaded',
      'pull.py:uploaded',
    ]);
    const index = parseIndex(asset('edgezoo-index', 'index.json').toString('utf8'), 'index.json');
    const tiny = index.models.find((m) => m.name === 'tiny-net')!;
    assert.deepEqual(
      tiny.versions.map((v) => v.version),
      ['1.1.0', '1.0.0'],
    );
    const v100 = tiny.versions[1]!;
    assert.equal(v100.artifacts[0]!.url, '../tiny-net%401.0.0/tiny-net-1.0.0-onnx-fp32.onnx');
    assert.equal(v100.card, '../tiny-net%401.0.0/README.md');
    assert.equal(v100.cardSha256, sha(asset('tiny-net@1.0.0', 'README.md')));
    // The clients know where this zoo is and which key signs it.
    const mjs = asset('edgezoo-index', 'pull.mjs').toString('utf8');
    assert.match(mjs, new RegExp(`^const DEFAULT_INDEX = "${report.indexUrl.replace(/[.]/g, '\\.')}";$`, 'm'));
    assert.match(
      mjs,
      new RegExp(`^const DEFAULT_PUBLIC_KEY = "${keys.publicKeyBase64.replace(/[+/]/g, '\\$&')}";$`, 'm'),
    );
    assert.match(
      asset('edgezoo-index', 'pull.py').toString('utf8'),
      /^DEFAULT_INDEX = "http:\/\/127\.0\.0\.1:\d+\/o\/r\/releases\/download\/edgezoo-index\/index\.json"$/m,
    );

    // Publishing again uploads nothing and replaces nothing.
    const before = github.log.length;
    const again = await publisher().publish(zoo, { signingKey: parsePrivateKey(keys.privateKeyPem) });
    assert.equal(again.filesUploaded, 0);
    assert.ok(
      github.log.slice(before).every((line) => line.startsWith('GET ')),
      github.log.slice(before).join('\n'),
    );
  });

  test('edgezoo pull --from github:o/r fetches and verifies a model', async () => {
    const out = path.join(root, 'out-edgezoo');
    const result = await run(
      process.execPath,
      [
        edgezooCli,
        'pull',
        'tiny-net@1.0',
        '--format',
        'onnx',
        '--from',
        'github:o/r',
        '--github-url',
        github.base,
        '--out',
        out,
      ],
      { env: env({ EDGEZOO_PUBLIC_KEY: keys.publicKeyBase64 }) },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /pulled tiny-net@1\.0\.0: 4 file\(s\), 4 downloaded .*; sha256 verified, index signature verified$/m,
    );
    assert.deepEqual((await readdir(out)).sort(), [
      'tiny-net-1.0.0-LICENSE.txt',
      'tiny-net-1.0.0-README.md',
      'tiny-net-1.0.0-manifest.json',
      'tiny-net-1.0.0-onnx-fp32.onnx',
    ]);
    assert.deepEqual(
      await readFile(path.join(out, 'tiny-net-1.0.0-onnx-fp32.onnx')),
      asset('tiny-net@1.0.0', 'tiny-net-1.0.0-onnx-fp32.onnx'),
    );
  });

  test('node pull.mjs, as downloaded, pulls with the defaults it was published with', async () => {
    const { mjs } = await downloadClients(path.join(root, 'clients-node'));
    const out = path.join(root, 'out-mjs');
    const result = await run(process.execPath, [mjs, 'tiny-net@1.0.0', '--format', 'openvino', '--out', out], {
      env: env(),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, 'pulled tiny-net@1.0.0: 5 file(s), sha256 verified, index signature verified\n');
    assert.deepEqual((await readdir(out)).sort(), [
      'tiny-net-1.0.0-LICENSE.txt',
      'tiny-net-1.0.0-README.md',
      'tiny-net-1.0.0-manifest.json',
      'tiny-net-1.0.0-openvino-fp16.bin',
      'tiny-net-1.0.0-openvino-fp16.xml',
    ]);
    assert.deepEqual(await readFile(path.join(out, 'tiny-net-1.0.0-README.md')), asset('tiny-net@1.0.0', 'README.md'));
    const again = await run(process.execPath, [mjs, 'tiny-net@1.0.0', '--format', 'openvino', '--out', out], {
      env: env(),
    });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.split('\n').filter((line) => line.endsWith('(already there)')).length, 5);
  });

  test('python3 pull.py without cryptography pulls and says the signature was not checked', async () => {
    const { py } = await downloadClients(path.join(root, 'clients-py'));
    const out = path.join(root, 'out-py');
    const result = await run(pythonWithoutCryptography(), [py, 'tiny-net', '--out', out, '--format', 'onnx'], {
      env: env(),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stderr,
      'note: the index signature is NOT verified: install the `cryptography` package to check it (pip install cryptography)\npulled tiny-net@1.1.0: 3 file(s), sha256 verified\n',
    );
    assert.deepEqual((await readdir(out)).sort(), [
      'tiny-net-1.1.0-README.md',
      'tiny-net-1.1.0-manifest.json',
      'tiny-net-1.1.0-onnx-fp32.onnx',
    ]);
    // A key the user asks for explicitly is not silently left unchecked.
    const explicit = await run(pythonWithoutCryptography(), [py, 'tiny-net', '--out', out], {
      env: env({ EDGEZOO_PUBLIC_KEY: keys.publicKeyBase64 }),
    });
    assert.equal(explicit.code, 2);
    assert.match(explicit.stderr, /^pull\.py: the index signature is NOT verified: install the `cryptography` package/);
  });

  test('python3 pull.py with cryptography verifies the signature', { timeout: 180_000 }, async () => {
    const { py } = await downloadClients(path.join(root, 'clients-py-crypto'));
    const out = path.join(root, 'out-py-crypto');
    const result = await run(pythonWithCryptography(), [py, 'tiny-net@1.0.0', '--format', 'onnx', '--out', out], {
      env: env(),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, 'pulled tiny-net@1.0.0: 4 file(s), sha256 verified, index signature verified\n');
  });

  test('a tampered asset is refused by all three clients, and nothing is left under its name', async () => {
    const { mjs, py } = await downloadClients(path.join(root, 'clients-tamper'));
    const name = 'tiny-net-1.0.0-onnx-fp32.onnx';
    github.faults.push({ kind: 'tamper-download', name, keep: true });
    const good = sha(asset('tiny-net@1.0.0', name));
    const url = `${github.base}/o/r/releases/download/tiny-net%401.0.0/${name}`;
    try {
      const clients: Array<[string, string, string[]]> = [
        [
          'edgezoo',
          process.execPath,
          [
            edgezooCli,
            'pull',
            'tiny-net@1.0.0',
            '--format',
            'onnx',
            '--from',
            'github:o/r',
            '--github-url',
            github.base,
          ],
        ],
        ['pull.mjs', process.execPath, [mjs, 'tiny-net@1.0.0', '--format', 'onnx']],
        ['pull.py', pythonWithCryptography(), [py, 'tiny-net@1.0.0', '--format', 'onnx']],
      ];
      for (const [client, command, args] of clients) {
        const out = path.join(root, `out-tamper-${client}`);
        const result = await run(command, [...args, '--out', out], { env: env() });
        assert.equal(result.code, 1, `${client}: ${result.stderr}`);
        const prefix = client === 'edgezoo' ? 'edgezoo' : client;
        assert.match(
          result.stderr,
          new RegExp(
            `^${prefix.replace('.', '\\.')}: ${name.replace(/[.]/g, '\\.')} from ${url.replace(/[.]/g, '\\.')} has sha256 [0-9a-f]{64}, but the index says ${good}; nothing was written to ${path.join(out, name).replace(/[.]/g, '\\.')}$`,
            'm',
          ),
          client,
        );
        const left = await readdir(out).catch(() => [] as string[]);
        assert.ok(!left.includes(name), `${client} left no file under the artifact's name`);
        assert.ok(!left.some((f) => f.startsWith(`${name}.partial`)), `${client} left no partial`);
      }
    } finally {
      github.faults.length = 0;
    }
  });

  test('a yank reaches the published index: a range skips the version, an exact pull warns', async () => {
    const cli = (args: string[], extra: Record<string, string> = {}) =>
      run(process.execPath, [edgezooCli, ...args], {
        env: env({ GITHUB_TOKEN: 'secret-token', EDGEZOO_TEST_GITHUB_FAST: '1', ...extra }),
        cwd: root,
      });
    const yanked = await cli(
      [
        'publish',
        '--zoo',
        zoo,
        '--to',
        'github:o/r',
        '--github-api',
        github.base,
        '--yank',
        'tiny-net@1.1.0',
        '--reason',
        'wrong labels',
      ],
      {
        EDGEZOO_SIGNING_KEY: keys.privateKeyBase64,
      },
    );
    assert.equal(yanked.code, 0, yanked.stderr);
    assert.equal(yanked.stdout, 'yanked tiny-net@1.1.0 on github:o/r: wrong labels\n');
    assert.ok(
      github.releases.find((r) => r.tag_name === 'tiny-net@1.1.0')!.assets.some((a) => a.name === 'yanked.json'),
    );
    const index = parseIndex(asset('edgezoo-index', 'index.json').toString('utf8'), 'index.json');
    assert.equal(index.models[0]!.versions.find((v) => v.version === '1.1.0')!.yanked?.reason, 'wrong labels');

    const { mjs, py } = await downloadClients(path.join(root, 'clients-yank'));
    const ranged = await cli([
      'pull',
      'tiny-net@1',
      '--format',
      'onnx',
      '--from',
      'github:o/r',
      '--github-url',
      github.base,
      '--out',
      path.join(root, 'out-yank'),
      '--json',
    ]);
    assert.equal(ranged.code, 0, ranged.stderr);
    assert.equal(JSON.parse(ranged.stdout).version, '1.0.0');
    for (const [command, script] of [
      [process.execPath, mjs],
      [pythonWithoutCryptography(), py],
    ] as const) {
      const exact = await run(command, [script, 'tiny-net@1.1.0', '--out', path.join(root, 'out-yank-exact')], {
        env: env(),
      });
      assert.equal(exact.code, 0, exact.stderr);
      assert.match(exact.stderr, /^warning: tiny-net@1\.1\.0 is yanked: wrong labels$/m);
      const range = await run(
        command,
        [script, 'tiny-net@1', '--out', path.join(root, 'out-yank-range'), '--format', 'onnx'],
        { env: env() },
      );
      assert.match(range.stderr, /pulled tiny-net@1\.0\.0/);
    }
  });

  test('a yank made in the zoo reaches GitHub on the next publish', async () => {
    await writeSampleVersion(zoo, 'tiny-net', '1.2.0', [{ format: 'onnx', precision: 'fp32' }]);
    await publisher().publish(zoo, {});
    await yankVersion(zoo, 'tiny-net', '1.2.0', 'bad export');
    const report = await publisher().publish(zoo, {});
    assert.equal(report.signed, false);
    const index = parseIndex(asset('edgezoo-index', 'index.json').toString('utf8'), 'index.json');
    assert.equal(index.models[0]!.versions.find((v) => v.version === '1.2.0')!.yanked?.reason, 'bad export');
    assert.ok(
      !indexRelease()!.assets.some((a) => a.name === 'index.json.sig'),
      'an unsigned publish removes the stale signature',
    );
  });
});

describe('GitHub: where the token goes', () => {
  test('a plain-http API root other than loopback is refused before any request', () => {
    assert.throws(
      () => new GitHubReleasesPublisher({ owner: 'o', repo: 'r', token: 't', baseUrl: 'http://api.example.com' }),
      {
        code: 'GITHUB_API_INSECURE',
        message: 'the GitHub API root http://api.example.com/ is not https; the token would travel in clear text',
      },
    );
  });

  test('an upload_url on another origin is refused and gets no request', async () => {
    const seen: string[] = [];
    const other = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      res.writeHead(201, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const otherBase = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    github.uploadBase = otherBase;
    try {
      const zoo2 = path.join(root, 'zoo-upload');
      await writeSampleVersion(zoo2, 'upload-net', '1.0.0', [{ format: 'onnx', precision: 'fp32' }]);
      await assert.rejects(publisher().publish(zoo2, {}), {
        code: 'GITHUB_UPLOAD_URL_REFUSED',
        message: `the API gave release upload-net@1.0.0 the upload URL ${otherBase}, which is not an origin of the API (${github.base}); the token is not sent there`,
      });
      assert.deepEqual(seen, []);
    } finally {
      github.uploadBase = '';
      other.closeAllConnections();
      await new Promise((resolve) => other.close(resolve));
    }
  });
});
