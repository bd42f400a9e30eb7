/**
 * The hostile-input probe of issue 16, kept: each case is a command someone could run against
 * edgezoo with bad input (a recipe, a model file, an archive, an index), run through the real CLI
 * in a throw-away project where it can be. Each must end in one clear line naming the problem,
 * with no stack trace, no secret echoed and nothing already built lost. Cases that need the
 * converters are in test/integration/reliability.test.ts.
 *
 * Probe items pinned elsewhere, each by a test that fails without its fix:
 * - download lock, empty or held by a live unrelated pid: test/unit/lock.test.ts
 * - no 0-artifact version: test/unit/zoo.test.ts, test/unit/build-validate-package.test.ts
 * - index.json and document size caps, a remote index naming file:/loopback/plain http,
 *   --index credentials (refused in the URL, taken from the environment, never printed):
 *   test/unit/pull-hardening.test.ts (through the CLI)
 * - the GitHub token only to the API's origin over https: test/integration/publish-github-pull.test.ts
 * - EPIPE (`inspect x.onnx | head`): test/unit/cli-basics.test.ts
 * - workers killed with their build (SIGKILL, SIGTERM, exit): test/integration/convert-pool.test.ts
 * - Damerau suggestions (`nmae`): test/unit/recipe-fixtures.test.ts, test/unit/recipe-load.test.ts
 * - mutated ONNX and TFLite files: test/unit/onnx-fuzz.test.ts, test/unit/tflite-fuzz.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkSizes, sizeLimits } from '../../src/recipe/size-rules.js';
import { fetchFile } from '../../src/fetch/index.js';
import { extractTarGzEntry } from '../../src/fetch/tar.js';
import { buildTarGz, buildZip } from './archive-fixtures.js';
import { saveModel } from '../../src/formats/onnx/index.js';
import { convNet } from './onnx-fixtures.js';

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

test('huge shapes and sample counts are clear check errors, not internal build errors (partial: sizes)', (t) => {
  const withInputs = (name: string, input: string, lines: string[] = []) =>
    recipe(name, { lines }).replace('  - { name: x, shape: [1, 3, 8, 8] }', `  - ${input}`);
  const root = makeProject(t, {
    'recipes/elements.yaml': withInputs('elements', '{ name: x, shape: [1, 3, 100000, 100000] }'),
    'recipes/huge-dim.yaml': withInputs('huge-dim', '{ name: x, shape: [1, 1000000000000] }'),
    'recipes/huge-count.yaml': recipe('huge-count', { lines: ['validation: { count: 1000000000 }'] }),
    'recipes/set-too-big.yaml': withInputs('set-too-big', '{ name: x, shape: [1, 3, 2048, 2048] }', [
      'validation: { count: 10000 }',
    ]),
  });
  const check = run(root, 'check');
  assert.equal(check.status, 1);
  const lines = check.stdout.split('\n');
  assert.equal(
    lines[0],
    'recipes/elements.yaml:9:23: inputs[0].shape: 1 x 3 x 100000 x 100000 is 3.00e+10 elements, more than a tensor may hold (2147483647: runtimes index tensors with 32-bit integers)',
  );
  assert.equal(
    lines[1],
    'recipes/huge-count.yaml:11:22: validation.count: expected a number <= 10000, received the number 1000000000',
  );
  assert.equal(
    lines[2],
    'recipes/huge-dim.yaml:9:27: inputs[0].shape[1]: expected a number <= 2147483647, received the number 1000000000000',
  );
  assert.match(
    lines[3] ?? '',
    /^recipes\/set-too-big\.yaml:11:22: validation\.count: 10000 samples of 48\.0 MiB are 469 GiB, more than this machine holds for a sample set \(a quarter of its [\d.]+ [GT]iB of memory, [\d.]+ [GMT]iB\); lower the count$/,
  );
  assert.equal(lines[4], '4 problems in 4 of 4 recipes');
  for (const verb of ['plan', 'build']) {
    const result = run(root, verb, 'elements');
    assert.equal(result.status, 1, verb);
    assert.match(result.all, /more than a tensor may hold/, verb);
    assertNoStackTrace(result.all);
  }
});

test('the size rule scales with the machine: a sample may take 1/16 of its memory, a set 1/4', () => {
  const findings: string[] = [];
  const report = (at: ReadonlyArray<string | number>, _part: unknown, code: string, message: string) =>
    findings.push(`${at.join('.')} ${code} ${message}`);
  const inputs = [{ name: 'x', shape: [1, 1024, 1024], dtype: 'int64' }]; // 8 MiB a sample
  checkSizes({ inputs, validation: { count: 16 } }, report, sizeLimits(1024 ** 3)); // 1 GiB machine
  assert.deepEqual(findings, []);
  checkSizes({ inputs, validation: { count: 64 } }, report, sizeLimits(1024 ** 3));
  assert.deepEqual(findings, [
    'validation.count RECIPE_SIZE_LIMIT 64 samples of 8.0 MiB are 512 MiB, more than this machine holds for a sample set (a quarter of its 1.0 GiB of memory, 256 MiB); lower the count',
  ]);
  findings.length = 0;
  checkSizes({ inputs, calibration: { count: 2 } }, report, sizeLimits(64 * 1024 ** 2)); // 64 MiB machine
  assert.deepEqual(findings, [
    'inputs.0.shape RECIPE_SIZE_LIMIT one sample of this input is 8.0 MiB, more than this machine can validate (a sample may take a sixteenth of its 64.0 MiB of memory, 4.0 MiB)',
  ]);
});

test('ONNX errors name the file: inspect and the build (partial: ONNX errors)', (t) => {
  const garbage = Buffer.from([0x0e, 0x07, 0x12, 0x04, 0x61, 0x62, 0x63, 0x64]);
  const truncated = Buffer.from([0x08, 0x07, 0x12, 0x04, 0x61, 0x62, 0x63, 0x64, 0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
  const root = makeProject(t, {
    'garbage.onnx': garbage,
    'truncated.onnx': truncated,
    'empty.onnx': '',
    'models/corrupt/model.onnx': garbage,
  });
  for (const [file, reason] of [
    ['garbage.onnx', 'corrupt ONNX data: wire type 6 in ModelProto at byte 0'],
    [
      'truncated.onnx',
      'ONNX data is truncated or corrupt: a field at byte 9 declares 4294967295 bytes but only 0 remain',
    ],
    ['empty.onnx', 'not an ONNX model: the file is empty'],
  ] as const) {
    const inspect = run(root, 'inspect', file);
    assert.equal(inspect.status, 1, file);
    assert.equal(inspect.stdout, '');
    assert.equal(inspect.stderr, `edgezoo: ${file}: ${reason}\n`);
  }
  const sha = createHash('sha256').update(garbage).digest('hex');
  mkdirSync(path.join(root, 'recipes'));
  writeFileSync(
    path.join(root, 'recipes/corrupt.yaml'),
    recipe('corrupt', { source: `{ path: models/corrupt/model.onnx, sha256: ${sha} }` }),
  );
  const build = run(root, 'build', 'corrupt');
  assert.equal(build.status, 1);
  assert.match(
    build.stdout,
    /^failed: corrupt\/fetch: models\/corrupt\/model\.onnx: corrupt ONNX data: wire type 6 in ModelProto at byte 0 \(\d+ dependent steps not run\)$/m,
  );
  assertNoStackTrace(build.all);
});

/** A stand-in registry client: a shell script that copies `archive` where pip or npm would put it. */
function fakeClient(folder: string, name: string, option: string, archive: string, stdout = ''): string {
  const file = path.join(folder, name);
  writeFileSync(
    file,
    `#!/bin/sh\nwhile [ $# -gt 0 ]; do if [ "$1" = "${option}" ]; then cp "${archive}" "$2/"; fi; shift; done\ncat <<'EOF'\n${stdout}\nEOF\n`,
  );
  chmodSync(file, 0o755);
  return file;
}

test('unpacking stops at the size the recipe or the package lists, before the sha256 check (partial: zip bombs)', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'edgezoo-bomb-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const zeros = Buffer.alloc(64 * 1024 ** 2); // inflates from about 64 KiB
  const real = Buffer.from('the real model file');
  const downloadsDir = path.join(root, 'downloads');

  // A wheel whose wanted entry is a bomb: with the recipe's size it is refused at its header.
  const wheel = path.join(root, 'bomb-1.0.0-py3-none-any.whl');
  writeFileSync(wheel, buildZip([{ name: 'bomb/model.onnx', data: zeros }]));
  const python = fakeClient(root, 'python', '-d', wheel);
  const pypi = { kind: 'package', registry: 'pypi', name: 'bomb', version: '1.0.0', file: 'bomb/model.onnx' } as const;
  const options = { projectRoot: root, downloadsDir, pythonCandidates: [python] };
  const sha = createHash('sha256').update(real).digest('hex');
  await assert.rejects(fetchFile({ location: pypi, sha256: sha, size: real.length }, options), {
    code: 'SIZE_MISMATCH',
    message: `refusing pypi:bomb==1.0.0:bomb/model.onnx: it grows past the ${real.length} bytes the recipe's size gives; stopped there, before the sha256 check`,
  });
  assert.deepEqual(readdirSync(path.join(downloadsDir, 'tmp')), [], 'no partial file is left');
  // Without a size the entry is inflated whole (64 MiB here) and only the sha256 refuses it.
  await assert.rejects(fetchFile({ location: pypi, sha256: sha }, options), { code: 'SHA256_MISMATCH' });

  // An npm package: npm's own listing of the tarball (`npm pack --json`) bounds the file and the stream.
  const tarball = path.join(root, 'bomb-1.0.0.tgz');
  writeFileSync(
    tarball,
    buildTarGz([
      { name: 'package/padding.bin', data: zeros },
      { name: 'package/model.onnx', data: real },
    ]),
  );
  const listing = JSON.stringify([
    {
      files: [
        { path: 'model.onnx', size: real.length },
        { path: 'padding.bin', size: 10 },
      ],
      unpackedSize: real.length + 10,
      entryCount: 2,
    },
  ]);
  const bin = path.join(root, 'bin');
  mkdirSync(bin);
  fakeClient(bin, 'npm', '--pack-destination', tarball, listing);
  const savedPath = process.env.PATH;
  process.env.PATH = `${bin}:${savedPath}`;
  t.after(() => {
    process.env.PATH = savedPath;
  });
  const npm = { kind: 'package', registry: 'npm', name: 'bomb', version: '1.0.0', file: 'model.onnx' } as const;
  await assert.rejects(fetchFile({ location: npm, sha256: sha }, { projectRoot: root, downloadsDir }), {
    code: 'ARCHIVE_INVALID',
    message:
      /^cannot read archive npm:bomb@1\.0\.0:model\.onnx: the tarball inflates past 1052701 bytes, more than its listed contents take$/,
  });
  // The same tarball read without a listing is only as bounded as the caller's cap.
  const out = path.join(root, 'out.bin');
  const whole = await extractTarGzEntry(tarball, 'model.onnx', out, 'bomb.tgz', { stripComponents: 1 });
  assert.equal(whole.extracted?.bytes, real.length);
  assert.equal(existsSync(out), true);
});

test('ONNX external data: every file the model names must be listed with its sha256, under a safe name', (t) => {
  const root = makeProject(t, {});
  mkdirSync(path.join(root, 'models/ext'), { recursive: true });
  saveModel(convNet(), path.join(root, 'models/ext/model.onnx'), { externalData: { sizeThreshold: 16 } });
  const sha = (file: string) =>
    createHash('sha256')
      .update(readFileSync(path.join(root, file)))
      .digest('hex');
  const model = `{ path: models/ext/model.onnx, sha256: ${sha('models/ext/model.onnx')}`;
  const data = (name: string, digest = sha('models/ext/model.onnx.data')) =>
    `{ name: "${name}", path: models/ext/model.onnx.data, sha256: ${digest} }`;
  const write = (name: string, source: string) =>
    writeFileSync(path.join(root, `recipes/${name}.yaml`), recipe(name, { source }));
  mkdirSync(path.join(root, 'recipes'));
  write('unlisted', `${model} }`);
  write('wrong-name', `${model}, external_data: [${data('weights.bin')}] }`);
  write('wrong-sha', `${model}, external_data: [${data('model.onnx.data', 'b'.repeat(64))}] }`);
  write('climbs-out', `${model}, external_data: [${data('../secret.bin')}] }`);
  write('twice', `${model}, external_data: [${data('model.onnx.data')}, ${data('model.onnx.data')}] }`);
  const outside = mkdtempSync(path.join(tmpdir(), 'edgezoo-outside-'));
  t.after(() => rmSync(outside, { recursive: true, force: true }));
  writeFileSync(path.join(outside, 'secret.bin'), 'secret');
  symlinkSync(path.join(outside, 'secret.bin'), path.join(root, 'models/ext/linked.data'));
  write(
    'linked',
    `${model}, external_data: [{ name: model.onnx.data, path: models/ext/linked.data, sha256: ${SHA} }] }`,
  );

  const check = run(root, 'check');
  assert.equal(
    check.stdout,
    [
      'recipes/climbs-out.yaml:7:138: source.onnx.external_data[0].name: expected the location the model gives for this file, relative to the .onnx file, such as "model.onnx.data" (no ".." and no segment starting with a dot), received "../secret.bin"',
      `recipes/linked.yaml:7:161: source.onnx.external_data[0].path: "models/ext/linked.data" leaves the project through the symlink models/ext/linked.data -> ${realpathSync(path.join(outside, 'secret.bin'))}; keep model files inside the project`,
      'recipes/twice.yaml:7:275: source.onnx.external_data[1].name: "model.onnx.data" is already the name of external_data[0]',
      '3 problems in 3 of 6 recipes',
      '',
    ].join('\n'),
  );
  const unlisted = 'models/ext/model.onnx stores tensors in "model.onnx.data", which the recipe does not list';
  const build = run(root, 'build', 'unlisted', 'wrong-name', 'wrong-sha');
  assert.equal(build.status, 1);
  assert.match(
    build.stdout,
    new RegExp(`^failed: unlisted/fetch: ${unlisted} \\(\\d+ dependent steps not run\\)$`, 'm'),
  );
  assert.match(
    build.stdout,
    new RegExp(`^failed: wrong-name/fetch: ${unlisted} \\(\\d+ dependent steps not run\\)$`, 'm'),
  );
  assert.match(
    build.stdout,
    /^failed: wrong-sha\/fetch: sha256 mismatch for models\/ext\/model\.onnx\.data: expected b{64}, got [0-9a-f]{64} \(\d+ dependent steps not run\)$/m,
  );
  assertNoStackTrace(build.all);
});

test("sample globs: a symlink inside the glob's folder leading out is refused, and {a,b} samples reach the fingerprint (items 2, 3)", (t) => {
  const root = makeProject(t, {
    'recipes/globbed.yaml': recipe('globbed', {
      lines: ['validation: { samples: "models/globbed/val/*.{npy,raw}", count: 2 }'],
    }),
    'models/globbed/model.onnx': 'stand-in',
    'models/globbed/val/a.npy': 'first',
    'models/globbed/val/b.raw': 'second',
  });
  const validateFingerprint = () => {
    const plan = run(root, 'plan', '--json');
    assert.equal(plan.status, 0, plan.all);
    const steps = JSON.parse(plan.stdout).steps as Array<{ kind: string; fingerprint: string }>;
    return steps.find((step) => step.kind === 'validate')?.fingerprint;
  };
  const before = validateFingerprint();
  writeFileSync(path.join(root, 'models/globbed/val/b.raw'), 'edited');
  assert.notEqual(validateFingerprint(), before, 'an edited {npy,raw} sample changes what validate is keyed by');

  const outside = mkdtempSync(path.join(tmpdir(), 'edgezoo-outside-'));
  t.after(() => rmSync(outside, { recursive: true, force: true }));
  writeFileSync(path.join(outside, 'private.npy'), 'secret');
  symlinkSync(path.join(outside, 'private.npy'), path.join(root, 'models/globbed/val/c.npy'));
  const check = run(root, 'check');
  assert.equal(check.status, 1);
  assert.match(
    check.stdout,
    /^recipes\/globbed\.yaml:11:24: validation\.samples: "models\/globbed\/val\/\*\.\{npy,raw\}" matches models\/globbed\/val\/c\.npy, which leads outside the project through a symlink \(to .*private\.npy\); keep sample files inside the project$/m,
  );
  for (const verb of ['plan', 'build']) {
    const result = run(root, verb, 'globbed');
    assert.equal(result.status, 1, verb);
    assert.match(result.all, /c\.npy, which leads outside the project through a symlink/, verb);
    assertNoStackTrace(result.all);
  }
});
