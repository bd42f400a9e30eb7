/**
 * The hostile-input probe of issue 16, kept: each case is a command someone could run against
 * edgezoo with bad input (a recipe, a model file, an archive, an index), run through the real CLI
 * in a throw-away project where it can be. Each must end in one clear line naming the problem,
 * with no stack trace, no secret echoed and nothing already built lost. Cases that need the
 * converters are in test/integration/reliability.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(repoRoot, 'src/cli/edgezoo.mjs');

/** A throw-away project: recipes/<name>.yaml files plus any other files, relative to the root. */
function makeProject(t: { after(fn: () => void): void }, files: Record<string, string | Buffer>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'edgezoo-probe-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const [relative, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, relative)), { recursive: true });
    writeFileSync(path.join(root, relative), content);
  }
  return root;
}

function run(cwd: string, ...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, all: result.stdout + result.stderr };
}

function assertNoStackTrace(output: string): void {
  assert.doesNotMatch(output, /^\s+at .+:\d+:\d+\)?$/m, 'a stack trace reached the user');
  assert.doesNotMatch(output, /internal error/i);
}

/** Every file under `root`, as relative paths. */
function listFiles(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)));
}

const SHA = 'a'.repeat(64);

/** A recipe with an ONNX source at `location` (YAML flow mapping text) and fp32 ONNX only. */
function recipe(name: string, extra: { source?: string; lines?: string[] } = {}): string {
  return [
    `name: ${name}`,
    'version: 1.0.0',
    'license: MIT',
    'description: A probe.',
    'task: image-classification',
    'source:',
    `  onnx: ${extra.source ?? `{ path: models/${name}/model.onnx, sha256: ${SHA} }`}`,
    'inputs:',
    '  - { name: x, shape: [1, 3, 8, 8] }',
    'targets: { onnx: [fp32] }',
    ...(extra.lines ?? []),
    '',
  ].join('\n');
}

test('credentials in a recipe URL are refused by check, plan and build, and never printed (item 1)', (t) => {
  const secret = 'hunter2-s3cr3t';
  const root = makeProject(t, {
    'recipes/userinfo.yaml': recipe('userinfo', {
      source: `{ url: "https://alice:${secret}@models.example.org/m.onnx", sha256: ${SHA} }`,
    }),
    'recipes/query-token.yaml': recipe('query-token', {
      source: `{ url: "https://models.example.org/m.onnx?access_token=${secret}", sha256: ${SHA} }`,
    }),
    'recipes/plain-http.yaml': recipe('plain-http', {
      source: `{ url: "http://bob:${secret}@models.example.org/m.onnx", sha256: ${SHA} }`,
    }),
    'recipes/homepage.yaml': recipe('homepage', { lines: [`homepage: https://carol:${secret}@example.org/`] }),
  });
  const check = run(root, 'check');
  assert.equal(check.status, 1);
  const consequence =
    'a recipe is copied into the manifest, the model card, index.json, the site and `plan --json`, so edgezoo downloads recipe URLs without credentials: put the file where it can be read without them, in a registry package or in the project';
  assert.equal(
    check.stdout,
    [
      `recipes/homepage.yaml:11:11: homepage: the URL carries a user name or password (user:password@), which is refused: ${consequence}`,
      `recipes/plain-http.yaml:7:16: source.onnx.url: the URL carries a user name or password (user:password@), which is refused: ${consequence}`,
      `recipes/query-token.yaml:7:16: source.onnx.url: the URL's query parameter "access_token" looks like a credential, which is refused: ${consequence}`,
      `recipes/userinfo.yaml:7:16: source.onnx.url: the URL carries a user name or password (user:password@), which is refused: ${consequence}`,
      '4 problems in 4 of 4 recipes',
      '',
    ].join('\n'),
  );
  for (const verb of [
    ['check', '--json'],
    ['plan', '--json'],
    ['build', '--all', '--json'],
  ]) {
    const result = run(root, ...verb);
    assert.equal(result.status, 1, `${verb.join(' ')} exits 1`);
    assert.doesNotMatch(result.all, new RegExp(secret), `${verb.join(' ')} does not print the secret`);
    assertNoStackTrace(result.all);
  }
  // Nothing was written that could carry it (no zoo, no cache entry, no log with it).
  for (const file of listFiles(root).filter((file) => !file.startsWith('recipes/')))
    assert.doesNotMatch(readFileSync(path.join(root, file), 'utf8'), new RegExp(secret), file);
});

test('a PyTorch factory must be a Python file of the project under models/: os:system is refused (item 7)', (t) => {
  const pytorch = (name: string, factory: string) =>
    [
      `name: ${name}`,
      'version: 1.0.0',
      'license: MIT',
      'description: A probe.',
      'task: image-classification',
      'source:',
      `  pytorch: { factory: "${factory}", kwargs: { command: "touch pwned" } }`,
      'inputs:',
      '  - { name: x, shape: [1, 3, 8, 8] }',
      'targets: { onnx: [fp32] }',
      '',
    ].join('\n');
  const root = makeProject(t, {
    'recipes/os-system.yaml': pytorch('os-system', 'os:system'),
    'recipes/package-module.yaml': pytorch('package-module', 'facenet_pytorch.models.mtcnn:PNet'),
    'recipes/outside-models.yaml': pytorch('outside-models', 'scripts/tool.py:build'),
    'recipes/climbs-out.yaml': pytorch('climbs-out', 'models/../../etc/x.py:build'),
    'recipes/fine.yaml': pytorch('fine', 'models/fine/model.py:build'),
    'models/fine/model.py': 'def build(command):\n    raise SystemExit(1)\n',
  });
  const expected =
    'expected a Python file of the project under models/ and its function, such as "models/my-model/model.py:build" (not a module of an installed package: the build imports and runs the factory)';
  const check = run(root, 'check');
  assert.equal(
    check.stdout,
    [
      'recipes/climbs-out.yaml:7:23: source.pytorch.factory: the path leaves the project: ".." segments are not allowed',
      `recipes/os-system.yaml:7:23: source.pytorch.factory: ${expected}, received "os:system"`,
      `recipes/outside-models.yaml:7:23: source.pytorch.factory: ${expected}, received "scripts/tool.py:build"`,
      `recipes/package-module.yaml:7:23: source.pytorch.factory: ${expected}, received "facenet_pytorch.models.mtcnn:PNet"`,
      '4 problems in 4 of 5 recipes',
      '',
    ].join('\n'),
  );
  assert.equal(check.status, 1);
  const build = run(root, 'build', 'os-system');
  assert.equal(build.status, 1);
  assertNoStackTrace(build.all);
  assert.deepEqual(
    listFiles(root).filter((file) => file.endsWith('pwned')),
    [],
    'nothing ran',
  );
});
