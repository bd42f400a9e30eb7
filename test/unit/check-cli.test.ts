/**
 * `edgezoo check` end to end: the real CLI (`node src/cli/edgezoo.mjs`) run in a throw-away
 * project, with the exact lines people read and the exit codes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(repoRoot, 'src/cli/edgezoo.mjs');
const fixtures = path.join(repoRoot, 'test/fixtures/recipes');

function makeProject(recipes: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'edgezoo-check-'));
  mkdirSync(path.join(root, 'recipes'));
  for (const [name, from] of Object.entries(recipes)) copyFileSync(from, path.join(root, 'recipes', name));
  return root;
}

function runCheck(cwd: string, ...args: string[]) {
  // Global options (--project) go before the verb, as people type them.
  const global = args[0] === '--project' ? args.splice(0, 2) : [];
  const result = spawnSync(process.execPath, [cli, ...global, 'check', ...args], { cwd, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function assertNoStackTrace(output: string): void {
  assert.doesNotMatch(output, /^\s+at .+:\d+:\d+\)?$/m, 'a stack trace reached the user');
  assert.doesNotMatch(output, /internal error/);
}

test('a clean project prints the count and exits 0', (t) => {
  const root = makeProject({ 'mobilenet-v2.yaml': path.join(fixtures, 'valid/mobilenet-v2.yaml') });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const { status, stdout, stderr } = runCheck(root);
  assert.equal(stdout, '1 recipe ok\n');
  assert.equal(stderr, '');
  assert.equal(status, 0);
});

test('every problem in every file is printed relative to the project root, then a count; exit 1', (t) => {
  const root = makeProject({
    'mobilenet-v2.yaml': path.join(fixtures, 'valid/mobilenet-v2.yaml'),
    'typo-key.yaml': path.join(fixtures, 'invalid/typo-key.yaml'),
    'alias-bomb.yaml': path.join(fixtures, 'invalid/alias-bomb.yaml'),
    'binary.yaml': path.join(fixtures, 'invalid/binary.yaml'),
    'missing-required.yaml': path.join(fixtures, 'invalid/missing-required.yaml'),
  });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  // Run from a subfolder: the project root is found upwards and paths stay relative to it.
  mkdirSync(path.join(root, 'models'));
  const { status, stdout, stderr } = runCheck(path.join(root, 'models'));
  assert.equal(
    stdout,
    [
      'recipes/alias-bomb.yaml:15:16: too many alias expansions (more than 64); aliases here expand into a very large document',
      'recipes/binary.yaml:3:1: this is a binary file (it contains a NUL byte); expected a YAML text file',
      'recipes/missing-required.yaml:1:1: missing required key "license" (SPDX license id or expression of the model weights, e.g. Apache-2.0, MIT, "CC-BY-NC-4.0", or LicenseRef-<name> with `license_file`)',
      'recipes/missing-required.yaml:1:1: missing required key "task" (What the model does, kebab-case: image-classification, object-detection, face-detection, segmentation, ...)',
      'recipes/missing-required.yaml:6:5: source.onnx: missing required key "sha256" (sha256 of the file, 64 hex digits (`sha256sum FILE`))',
      'recipes/typo-key.yaml:6:1: unknown key "sorce"; did you mean "source"?',
      '6 problems in 4 of 5 recipes',
      '',
    ].join('\n'),
  );
  assert.equal(stderr, '');
  assert.equal(status, 1);
});

test('--json gives every recipe with its problems for machines', (t) => {
  const root = makeProject({
    'mobilenet-v2.yaml': path.join(fixtures, 'valid/mobilenet-v2.yaml'),
    'two-sources.yaml': path.join(fixtures, 'invalid/two-sources.yaml'),
  });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const { status, stdout } = runCheck(root, '--json');
  assert.equal(status, 1);
  assert.deepEqual(JSON.parse(stdout), {
    ok: false,
    recipeCount: 2,
    problemCount: 1,
    recipes: [
      { file: 'recipes/mobilenet-v2.yaml', ok: true, name: 'mobilenet-v2', version: '1.0.0', problems: [] },
      {
        file: 'recipes/two-sources.yaml',
        ok: false,
        problems: [
          {
            file: 'recipes/two-sources.yaml',
            line: 8,
            col: 3,
            code: 'RECIPE_SOURCE',
            message: 'source: expected exactly one of onnx, tflite, pytorch, package; received onnx and tflite',
          },
        ],
      },
    ],
  });
});

test('explicit paths: files and folders; a missing one is a usage error (exit 2)', (t) => {
  const root = makeProject({
    'mobilenet-v2.yaml': path.join(fixtures, 'valid/mobilenet-v2.yaml'),
    'empty.yaml': path.join(fixtures, 'invalid/empty.yaml'),
  });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const one = runCheck(root, 'recipes/mobilenet-v2.yaml');
  assert.equal(one.stdout, '1 recipe ok\n');
  assert.equal(one.status, 0);

  const folder = runCheck(root, 'recipes');
  assert.equal(
    folder.stdout,
    'recipes/empty.yaml:1:1: the recipe is empty; expected a mapping starting with name, version, license, ...\n1 problem in 1 of 2 recipes\n',
  );

  // With --project, paths also resolve against the project from anywhere.
  const elsewhere = runCheck(tmpdir(), '--project', root, 'recipes/empty.yaml');
  assert.equal(
    elsewhere.stdout,
    'recipes/empty.yaml:1:1: the recipe is empty; expected a mapping starting with name, version, license, ...\n1 problem in 1 recipe\n',
  );
  assert.equal(elsewhere.status, 1);
  assert.equal(folder.status, 1);

  const missing = runCheck(root, 'recipes/nope.yaml');
  assert.equal(missing.stdout, '');
  assert.equal(missing.stderr, 'edgezoo: no such recipe file or folder: recipes/nope.yaml\n');
  assert.equal(missing.status, 2);
  assertNoStackTrace(one.stderr + folder.stderr + missing.stderr);
});

test('the hostile fixtures never produce a stack trace through the CLI', (t) => {
  const hostile = [
    'alias-bomb',
    'deep-nesting',
    'proto-key',
    'merge-key',
    'custom-tag',
    'binary',
    'invalid-utf8',
    'multi-document',
    'not-mapping',
    'yaml-syntax',
  ];
  const root = makeProject(
    Object.fromEntries(hostile.map((name) => [`${name}.yaml`, path.join(fixtures, `invalid/${name}.yaml`)])),
  );
  t.after(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(path.join(root, 'recipes', 'too-large.yaml'), `a: "${'x'.repeat(2 * 1024 * 1024)}"\n`);
  const { status, stdout, stderr } = runCheck(root);
  assert.equal(status, 1);
  assert.equal(stderr, '');
  assertNoStackTrace(stdout);
  assert.match(stdout, /^recipes\/too-large\.yaml:1:1: the recipe is 2049 KiB; recipes are limited to 1024 KiB/m);
  assert.match(stdout, /^12 problems in 11 of 11 recipes$/m);
});

test('a project without recipes says so and exits 0; --help documents the verb', (t) => {
  const root = makeProject({});
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const { status, stdout } = runCheck(root);
  assert.equal(stdout, 'no recipes found in recipes/\n');
  assert.equal(status, 0);
  const help = runCheck(root, '--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Usage: edgezoo check \[options\] \[paths\.\.\.\]/);
  assert.match(help.stdout, /--json/);
});
