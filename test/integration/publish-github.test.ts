/**
 * The GitHub Releases publisher against a loopback server implementing the REST endpoints it
 * uses (releases by tag, release list, create, update, assets list/download/delete, upload),
 * with scripted faults.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GitHubReleasesPublisher } from '../../src/publish/index.js';
import { writeSampleVersion } from '../fixtures/sample-zoo.js';
import { FakeGitHub } from './publish-github-fake.js';

let root: string;
let zoo: string;
const github = new FakeGitHub();

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'edgezoo-gh-'));
  zoo = path.join(root, 'zoo');
  await writeSampleVersion(
    zoo,
    'tiny-net',
    '1.0.0',
    [
      { format: 'onnx', precision: 'fp32', size: 64 * 1024 },
      { format: 'openvino', precision: 'fp16' },
    ],
    { licenseText: 'license\n' },
  );
  await writeSampleVersion(zoo, 'alpha-net', '0.2.0', [{ format: 'tflite', precision: 'int8' }]);
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
    token: 't',
    baseUrl: github.base,
    waitUnitMs: 5,
    spaceWrites: false,
  });
}

describe('GitHub Releases publisher', () => {
  test('publishes one release per model@version through faults, and a second run changes nothing', async () => {
    github.faults.push(
      { kind: 'reset-after-store', name: 'tiny-net-1.0.0-onnx-fp32.onnx' },
      { kind: 'reset-mid-upload', name: 'tiny-net-1.0.0-openvino-fp16.bin' },
      { kind: 'bad-gateway-starter', name: 'LICENSE.txt' },
      { kind: 'rate-limit-403', method: 'POST', path: /^\/repos\/o\/r\/releases$/ },
      { kind: 'secondary-429', method: 'PATCH', path: /^\/repos\/o\/r\/releases\/\d+$/ },
    );
    const report = await publisher().publish(zoo, {});
    assert.deepEqual(github.faults, [], 'every fault was hit');
    assert.deepEqual(
      report.versions.map((v) => `${v.name}@${v.version}:${v.state}`),
      ['alpha-net@0.2.0:new', 'tiny-net@1.0.0:new'],
    );
    assert.deepEqual(
      github.releases.map((r) => [r.tag_name, r.draft]),
      [
        ['alpha-net@0.2.0', false],
        ['tiny-net@1.0.0', false],
        ['edgezoo-index', false],
      ],
    );
    const tiny = github.releases[1]!;
    assert.deepEqual(tiny.assets.map((a) => `${a.name}:${a.state}`).sort(), [
      'LICENSE.txt:uploaded',
      'README.md:uploaded',
      'SHA256SUMS:uploaded',
      'manifest.json:uploaded',
      'tiny-net-1.0.0-onnx-fp32.onnx:uploaded',
      'tiny-net-1.0.0-openvino-fp16.bin:uploaded',
      'tiny-net-1.0.0-openvino-fp16.xml:uploaded',
    ]);
    const sums = tiny.assets.find((a) => a.name === 'SHA256SUMS')!.bytes.toString();
    for (const a of tiny.assets.filter((x) => x.name !== 'SHA256SUMS'))
      assert.ok(sums.includes(`${a.digest.slice(7)}  ${a.name}\n`), `SHA256SUMS lists ${a.name}`);

    const before = github.log.length;
    const again = await publisher().publish(zoo, {});
    assert.deepEqual(
      again.versions.map((v) => v.state),
      ['unchanged', 'unchanged'],
    );
    assert.equal(again.filesUploaded, 0);
    assert.ok(
      github.log.slice(before).every((line) => line.startsWith('GET ')),
      'a second run only reads',
    );
  });

  test('a draft left by an interrupted run is completed, starter assets replaced', async () => {
    const zoo2 = path.join(root, 'zoo2');
    await writeSampleVersion(zoo2, 'beta-net', '1.0.0', [{ format: 'onnx', precision: 'fp32' }]);
    const sums = github.releases.length;
    github.releases.push({
      id: 900,
      tag_name: 'beta-net@1.0.0',
      name: 'beta-net@1.0.0',
      draft: true,
      assets: [
        {
          id: 901,
          name: 'beta-net-1.0.0-onnx-fp32.onnx',
          size: 0,
          state: 'starter',
          bytes: Buffer.alloc(0),
          digest: '',
        },
      ],
    });
    const report = await publisher().publish(zoo2, {});
    assert.deepEqual(report.versions, [{ name: 'beta-net', version: '1.0.0', state: 'completed' }]);
    assert.equal(github.releases.length, sums + 1, 'no second release was created');
    const beta = github.releases.find((r) => r.id === 900)!;
    assert.equal(beta.draft, false);
    assert.ok(beta.assets.every((a) => a.state === 'uploaded'));
  });

  test('a published release with different bytes is refused and stays as it was', async () => {
    const zoo3 = path.join(root, 'zoo3');
    await writeSampleVersion(zoo3, 'alpha-net', '0.2.0', [{ format: 'tflite', precision: 'int8', seed: 'different' }]);
    const release = github.releases.find((r) => r.tag_name === 'alpha-net@0.2.0')!;
    const assetsBefore = JSON.stringify(release.assets.map((a) => [a.name, a.digest]));
    await assert.rejects(publisher().publish(zoo3, {}), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'RELEASE_IMMUTABLE');
      assert.match(
        error.message,
        /^release alpha-net@0\.2\.0 was started with other bytes \(alpha-net-0\.2\.0-tflite-int8\.tflite: release has sha256 [0-9a-f]{64}, the zoo has sha256 [0-9a-f]{64}\)$/,
      );
      return true;
    });
    assert.equal(JSON.stringify(release.assets.map((a) => [a.name, a.digest])), assetsBefore);
  });
});
