/**
 * What publish refuses (a version with no artifact, a version whose last build failed, a version
 * no recipe declares) and `edgezoo zoo prune`, through the real CLI in a throw-away project.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { updateBuildStatus } from '../../src/zoo/index.js';
import { writeSampleVersion } from '../fixtures/sample-zoo.js';

const cli = path.resolve(import.meta.dirname, '../../src/cli/edgezoo.mjs');
let root: string;
let zoo: string;

function recipe(name: string, version: string): string {
  return `name: ${name}
version: ${version}
license: MIT
description: A sample model for the publish gates.
task: image-classification
source:
  onnx:
    package: { pypi: "${name}==1.0.0", file: sample/model.onnx }
    sha256: ${'c'.repeat(64)}
inputs:
  - { name: input, shape: [1, 3, 8, 8], layout: NCHW }
targets:
  onnx: [fp32]
`;
}

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'edgezoo-gates-'));
  await mkdir(path.join(root, 'recipes'));
  await writeFile(path.join(root, 'recipes', 'tiny-net.yaml'), recipe('tiny-net', '1.0.0'));
  await writeFile(path.join(root, 'recipes', 'dead-net.yaml'), recipe('dead-net', '1.0.0'));
  zoo = path.join(root, 'artifacts', 'zoo');
  await writeSampleVersion(zoo, 'tiny-net', '1.0.0', [{ format: 'onnx', precision: 'fp32' }]);
  await writeSampleVersion(zoo, 'tiny-net', '0.9.0', [{ format: 'onnx', precision: 'fp32' }]);
  await writeSampleVersion(zoo, 'gone-net', '2.0.0', [{ format: 'onnx', precision: 'fp32' }]);
  // A 0-artifact version as edgezoo wrote them before it refused to.
  await writeSampleVersion(zoo, 'dead-net', '1.0.0', [{ format: 'onnx', precision: 'fp32' }]);
  const manifestPath = path.join(zoo, 'dead-net', '1.0.0', 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  manifest.failed = manifest.artifacts.map((a: { format: string; precision: string }) => ({
    format: a.format,
    precision: a.precision,
    reason: 'conversion failed: onnx2tf crashed',
  }));
  manifest.artifacts = [];
  await writeFile(manifestPath, JSON.stringify(manifest));
  await updateBuildStatus(zoo, {
    'tiny-net@1.0.0': {
      ok: false,
      at: '2026-12-01T00:00:00.000Z',
      failures: ['tiny-net/convert/tflite/int8: onnx2tf crashed'],
    },
  });
});
after(() => rm(root, { recursive: true, force: true }));

describe('publish gates', () => {
  test('refuses every stale, failed or empty version at once, before touching the target', async () => {
    const result = await runCli(['publish', '--to', 'dir:site']);
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      [
        `edgezoo: refusing to publish 4 versions of ${zoo}:`,
        '  dead-net@1.0.0 has no artifact (1 failed); it would only take the version number',
        '  gone-net@2.0.0 has no recipe any more (recipes/gone-net.yaml is gone)',
        '  the last build of tiny-net@1.0.0 failed: tiny-net/convert/tflite/int8: onnx2tf crashed',
        '  tiny-net@0.9.0 is not the version recipes/tiny-net.yaml declares (1.0.0)',
        'hint: a version with no artifact is never published: fix the build, or remove it with `edgezoo zoo prune`',
        '',
      ].join('\n'),
    );
    assert.equal(existsSync(path.join(root, 'site')), false, 'nothing was published');
    const forced = await runCli(['publish', '--to', 'dir:site', '--force']);
    assert.equal(forced.code, 1, '--force never publishes a version with no artifact');
    assert.match(
      forced.stderr,
      /^edgezoo: refusing to publish 1 version of .*:\n {2}dead-net@1\.0\.0 has no artifact/m,
    );
  });

  test('zoo prune removes what no recipe declares and what has no artifact; then --force publishes a failed build', async () => {
    const dry = await runCli(['zoo', 'prune', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(
      dry.stdout,
      [
        'would remove dead-net@1.0.0: it has no artifact',
        'would remove gone-net@2.0.0: recipes/gone-net.yaml is gone',
        'would remove tiny-net@0.9.0: recipes/tiny-net.yaml declares 1.0.0',
        `would remove 3 version(s) from ${zoo}`,
        '',
      ].join('\n'),
    );
    assert.ok(existsSync(path.join(zoo, 'gone-net', '2.0.0', 'manifest.json')), 'a dry run removes nothing');
    const pruned = await runCli(['zoo', 'prune']);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.equal(existsSync(path.join(zoo, 'gone-net')), false);
    assert.equal(existsSync(path.join(zoo, 'tiny-net', '0.9.0')), false);
    assert.ok(existsSync(path.join(zoo, 'tiny-net', '1.0.0', 'manifest.json')));
    const index = JSON.parse(await readFile(path.join(zoo, 'index.json'), 'utf8'));
    assert.deepEqual(
      index.models.map((m: { name: string }) => m.name),
      ['tiny-net'],
    );

    const refused = await runCli(['publish', '--to', 'dir:site']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--force publishes them as they are$/m);
    const forced = await runCli(['publish', '--to', 'dir:site', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(
      forced.stderr,
      /^warning: publishing anyway \(--force\): the last build of tiny-net@1\.0\.0 failed: tiny-net\/convert\/tflite\/int8: onnx2tf crashed$/m,
    );
    assert.ok(existsSync(path.join(root, 'site', 'tiny-net', '1.0.0', 'manifest.json')));
    assert.equal((await runCli(['zoo', 'prune'])).stdout, `nothing to prune in ${zoo}\n`);
  });
});
