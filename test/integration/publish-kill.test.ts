/**
 * `edgezoo publish --to github:o/r` killed with SIGKILL during uploads, at seeded moments, against
 * the loopback GitHub stand-in with slow uploads. After every kill no release may be published
 * partially (a published release holds every asset, complete and with the zoo's bytes); the
 * release whose upload was cut stays a draft. A run to completion then publishes everything, and
 * a further run changes nothing (only GETs).
 *
 * Reproduce a failure with EDGEZOO_TEST_SEED=<seed printed in the test name>; any other seed
 * tries other moments.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeSampleVersion } from '../fixtures/sample-zoo.js';
import { FakeGitHub } from './publish-github-fake.js';
import { seededRandom } from '../../src/validate/random.js';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/edgezoo.mjs');
// Two seeds by default, chosen so the kills cover: the first release mid-upload, the second
// mid-upload while the first is published, SHA256SUMS itself, and a kill just past an upload.
const seeds = process.env.EDGEZOO_TEST_SEED ? [Number(process.env.EDGEZOO_TEST_SEED)] : [20261125, 20261156];
const UPLOAD_MS = 200;
const KILLED_RUNS = 3;

let root: string;
let zoo: string;
const github = new FakeGitHub();
/** tag -> asset name -> sha256 of the zoo's file (SHA256SUMS is checked by its content instead). */
const expected = new Map<string, Map<string, string>>();

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'edgezoo-gh-kill-'));
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
  await writeSampleVersion(zoo, 'alpha-net', '0.2.0', [
    { format: 'tflite', precision: 'int8' },
    { format: 'onnx', precision: 'fp16' },
  ]);
  for (const [name, version] of [
    ['tiny-net', '1.0.0'],
    ['alpha-net', '0.2.0'],
  ] as const) {
    const dir = path.join(zoo, name, version);
    const files = new Map<string, string>();
    for (const file of await readdir(dir))
      files.set(
        file,
        createHash('sha256')
          .update(await readFile(path.join(dir, file)))
          .digest('hex'),
      );
    expected.set(`${name}@${version}`, files);
  }
  github.uploadDelayMs = UPLOAD_MS;
  await github.start();
});
after(async () => {
  await github.stop();
  await rm(root, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Where the run was when it was killed: the upload in flight (tag, asset) and how far into it. */
  killedDuring?: { tag: string; asset: string; afterMs: number };
}

/** Runs the real CLI; with `killAt`, SIGKILLs it `afterMs` after the `upload`-th upload request arrived. */
function runPublish(killAt?: { upload: number; afterMs: number }, extraArgs: string[] = []): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [cli, 'publish', '--zoo', zoo, '--to', 'github:o/r', '--github-api', github.base, ...extraArgs],
      {
        cwd: root,
        env: { ...process.env, GITHUB_TOKEN: 't', EDGEZOO_TEST_GITHUB_FAST: '1', EDGEZOO_SIGNING_KEY: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    github.clientKilled = false;
    let uploads = 0;
    let killedDuring: Run['killedDuring'];
    github.onUploadStart = (asset, tag) => {
      uploads += 1;
      if (killAt && uploads === killAt.upload) {
        setTimeout(() => {
          killedDuring = { tag, asset, afterMs: killAt.afterMs };
          github.clientKilled = true;
          child.kill('SIGKILL');
        }, killAt.afterMs);
      }
    };
    child.on('error', reject);
    child.on('close', (code, signal) => {
      github.onUploadStart = () => {};
      resolve({ code, signal, stdout, stderr, ...(killedDuring ? { killedDuring } : {}) });
    });
  });
}

/** Uploads a complete publish still needs: expected assets not yet on a release as `uploaded`. */
function uploadsLeft(): number {
  let left = 0;
  for (const [tag, files] of expected) {
    const release = github.releases.find((r) => r.tag_name === tag);
    for (const name of [...files.keys(), 'SHA256SUMS']) {
      if (!release?.assets.some((a) => a.name === name && a.state === 'uploaded')) left += 1;
    }
  }
  return left;
}

/** Every published (non-draft) release holds exactly the zoo's assets, complete, with the zoo's bytes. */
function assertNoPartialRelease(when: string): void {
  for (const release of github.releases.filter((r) => !r.draft)) {
    if (release.tag_name === 'edgezoo-index') {
      // The rolling index release is replaced in place: new bytes go up as NAME.next, which a
      // kill may leave as a starter; every file under its real name is complete.
      for (const asset of release.assets.filter((a) => !a.name.endsWith('.next')))
        assert.equal(asset.state, 'uploaded', `${when}: edgezoo-index ${asset.name} is complete`);
      continue;
    }
    const files = expected.get(release.tag_name);
    assert.ok(files, `${when}: unexpected release ${release.tag_name}`);
    assert.deepEqual(
      release.assets.map((a) => a.name).sort(),
      [...files.keys(), 'SHA256SUMS'].sort(),
      `${when}: ${release.tag_name} is published with exactly the zoo's assets`,
    );
    for (const asset of release.assets) {
      assert.equal(asset.state, 'uploaded', `${when}: ${release.tag_name} ${asset.name} is complete`);
      const sha = createHash('sha256').update(asset.bytes).digest('hex');
      if (asset.name === 'SHA256SUMS') {
        const listed = [...files].map(([name, fileSha]) => `${fileSha}  ${name}`).sort();
        assert.deepEqual(
          asset.bytes.toString('utf8').trim().split('\n').sort(),
          listed,
          `${when}: ${release.tag_name} SHA256SUMS`,
        );
      } else {
        assert.equal(sha, files.get(asset.name), `${when}: ${release.tag_name} ${asset.name} has the zoo's bytes`);
      }
    }
  }
}

describe('publish to GitHub killed during uploads', () => {
  for (const seed of seeds)
    test(`never leaves a partly published release, and a rerun completes it (seed ${seed})`, {
      timeout: 180_000,
    }, async (t) => {
      github.releases = [];
      github.log = [];
      const random = seededRandom(seed);
      const total = uploadsLeft();
      assert.equal(
        total,
        12,
        'alpha-net: SHA256SUMS, 2 artifacts, card, manifest; tiny-net: SHA256SUMS, onnx, xml, bin, LICENSE, card, manifest',
      );
      const moments: string[] = [];
      for (let i = 0; i < KILLED_RUNS; i++) {
        const left = uploadsLeft();
        if (left === 0) break;
        const upload = 1 + Math.floor(random() * left);
        // Within the upload, or up to half an upload past it (into the next request); never past
        // the last upload, after which the run would simply finish.
        const afterMs = Math.floor(random() * UPLOAD_MS * (upload === left ? 0.8 : 1.5));
        const run = await runPublish({ upload, afterMs });
        assert.equal(
          run.signal,
          'SIGKILL',
          `run ${i + 1} was killed (it exited with ${run.code}; stderr: ${run.stderr})`,
        );
        const during = run.killedDuring!;
        moments.push(`upload ${upload}/${left} (${during.tag} ${during.asset}) +${afterMs} ms`);
        assertNoPartialRelease(`after kill ${i + 1} at ${moments.at(-1)}`);
        if (afterMs < UPLOAD_MS * 0.8) {
          // Killed for sure while that asset was still uploading: its release cannot be published.
          const release = github.releases.find((r) => r.tag_name === during.tag)!;
          assert.equal(release.draft, true, `${during.tag} stays a draft after a kill during ${during.asset}`);
          const cut = release.assets.find((a) => a.name === during.asset);
          assert.equal(cut?.state, 'starter', `${during.asset} was left as a starter asset`);
        }
      }
      t.diagnostic(`killed at: ${moments.join('; ')}`);
      assert.equal(moments.length, KILLED_RUNS, `kill moments: ${moments.join('; ')}`);
      assert.ok(uploadsLeft() > 0, 'something was left to do after the kills');

      const complete = await runPublish(undefined, ['--json']);
      assert.equal(complete.code, 0, complete.stderr);
      const report = JSON.parse(complete.stdout) as {
        versions: Array<{ name: string; version: string; state: string }>;
        filesUploaded: number;
      };
      assert.ok(
        report.versions.some((v) => v.state === 'completed'),
        `a draft left by a kill was completed: ${complete.stdout}`,
      );
      assert.deepEqual(
        github.releases.map((r) => [r.tag_name, r.draft]).sort(),
        [
          ['alpha-net@0.2.0', false],
          ['edgezoo-index', false],
          ['tiny-net@1.0.0', false],
        ],
        'one release per version, both published, and the index release',
      );
      const indexAsset = github.releases
        .find((r) => r.tag_name === 'edgezoo-index')!
        .assets.find((a) => a.name === 'index.json')!;
      assert.deepEqual(
        (JSON.parse(indexAsset.bytes.toString('utf8')) as { models: Array<{ name: string }> }).models.map(
          (m) => m.name,
        ),
        ['alpha-net', 'tiny-net'],
        'the index lists both versions',
      );
      assertNoPartialRelease('after the completing run');
      assert.equal(uploadsLeft(), 0);

      const logBefore = github.log.length;
      const again = await runPublish(undefined, ['--json']);
      assert.equal(again.code, 0, again.stderr);
      const againReport = JSON.parse(again.stdout) as {
        versions: Array<{ state: string }>;
        filesUploaded: number;
        bytesUploaded: number;
      };
      assert.deepEqual(
        againReport.versions.map((v) => v.state),
        ['unchanged', 'unchanged'],
      );
      assert.equal(againReport.filesUploaded, 0);
      const requests = github.log.slice(logBefore);
      assert.ok(requests.length > 0);
      assert.deepEqual(
        requests.filter((line) => !line.startsWith('GET ')),
        [],
        'a run after completion only reads',
      );
    });
});
