/**
 * What a person reads from `edgezoo build`: one line per root cause of a failure (not one per
 * blocked step), skipped targets as one line per model, and recipe paths accepted as model names.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { formatSkippedLines, formatSummaryTable, groupSkippedTargets, type BuildEvent } from '../../src/build/index.js';
import { makeProject, removeProjects, runCli } from './build-cli-helpers.js';

after(removeProjects);

describe('build output', () => {
  it('prints a failure once, with how many steps it blocked, and no "blocked by" lines', async () => {
    const root = await makeProject();
    const run = await runCli(root, ['build', '--all'], { EDGEZOO_STANDIN_FAIL: '^m01/(prepare|convert/onnx/fp16)$' });
    assert.equal(run.code, 1);
    assert.doesNotMatch(run.stdout, /blocked by/);
    const failureLines = run.stdout.split('\n').filter((line) => /FAILED|^failed:/.test(line));
    assert.deepEqual(
      failureLines.map((line) => line.replace(/ \(log: .*\)$/, '')),
      [
        '[m01] prepare FAILED: stand-in failure of m01/prepare',
        'failed: m01/prepare: stand-in failure of m01/prepare (9 dependent steps not run)',
      ],
    );
    // What publish checks: how each version's last build ended, by its root causes.
    const status = JSON.parse(await readFile(path.join(root, 'artifacts', 'zoo', 'build-status.json'), 'utf8'));
    assert.deepEqual(
      Object.fromEntries(
        Object.entries(status.versions).map(([id, s]) => [
          id,
          [(s as { ok: boolean }).ok, (s as { failures: string[] }).failures],
        ]),
      ),
      {
        'm00@1.0.0': [true, []],
        'm01@1.0.0': [false, ['m01/prepare: stand-in failure of m01/prepare']],
        'm02@1.0.0': [true, []],
      },
    );
    const fixed = await runCli(root, ['build', 'm01']);
    assert.equal(fixed.code, 0, fixed.stderr);
    const after = JSON.parse(await readFile(path.join(root, 'artifacts', 'zoo', 'build-status.json'), 'utf8'));
    assert.equal(after.versions['m01@1.0.0'].ok, true, 'a later good build clears it');
    assert.equal(after.versions['m00@1.0.0'].ok, true, 'other versions keep their record');
  });

  it('a chain of blocked steps counts towards its root cause', () => {
    const lines = formatSummaryTable({
      ok: false,
      interrupted: false,
      durationMs: 10,
      models: [
        {
          model: 'm',
          steps: 5,
          run: 1,
          cached: 0,
          failed: 4,
          skipped: 0,
          durationMs: 10,
          failures: [
            { step: 'm/fetch', reason: 'network down\nsecond line' },
            { step: 'm/prepare', reason: 'blocked by m/fetch' },
            { step: 'm/convert/onnx/fp32', reason: 'blocked by m/prepare' },
            { step: 'm/validate/onnx/fp32', reason: 'blocked by m/convert/onnx/fp32' },
          ],
        },
      ],
    });
    assert.deepEqual(
      lines.filter((line) => line.startsWith('failed')),
      ['failed: m/fetch: network down (3 dependent steps not run)'],
    );
  });

  it('skipped targets are one line per model', () => {
    const printed: string[] = [];
    const group = groupSkippedTargets((line) => printed.push(line));
    const events: BuildEvent[] = [
      { type: 'plan', models: ['a', 'b'], steps: 4, skipped: 3 },
      { type: 'step-skipped', model: 'a', target: 'tflite/int8', reason: 'onnx2tf breaks the LSTM' },
      { type: 'step-skipped', model: 'a', target: 'tflite/int16-act', reason: 'onnx2tf breaks the LSTM' },
      { type: 'step-skipped', model: 'b', target: 'onnx/int8', reason: 'onnxruntime int8 too lossy' },
    ];
    for (const event of events) group.onEvent(event);
    assert.deepEqual(printed, [], 'held until the build goes on');
    group.onEvent({
      type: 'step-cached',
      step: 'a/fetch',
      model: 'a',
      kind: 'fetch',
      fingerprint: 'f',
      result: { status: 'ok' },
    });
    assert.deepEqual(printed, [
      '[a] 2 targets skipped by the recipe: tflite/int8, tflite/int16-act (reasons: edgezoo plan a)',
      '[b] 1 target skipped by the recipe: onnx/int8 (reasons: edgezoo plan b)',
    ]);
    assert.deepEqual(formatSkippedLines([]), []);
  });

  it('takes recipe files and folders as check does', async () => {
    const root = await makeProject();
    // The stand-in module provides the recipes; the files only have to exist under recipes/.
    for (const name of ['m00', 'm01']) await writeFile(path.join(root, 'recipes', `${name}.yaml`), `name: ${name}\n`);
    const one = await runCli(root, ['build', 'recipes/m01.yaml', '--json']);
    assert.equal(one.code, 0, one.stderr);
    const plan = JSON.parse(one.stdout.split('\n')[0]!) as { models: string[] };
    assert.deepEqual(plan.models, ['m01']);
    const folder = await runCli(path.join(root, 'recipes'), ['build', '.', '--json']);
    assert.equal(folder.code, 0, folder.stderr);
    assert.deepEqual((JSON.parse(folder.stdout.split('\n')[0]!) as { models: string[] }).models, ['m00', 'm01']);

    await mkdir(path.join(root, 'elsewhere'));
    await writeFile(path.join(root, 'elsewhere', 'm02.yaml'), 'name: m02\n');
    const outside = await runCli(root, ['build', 'elsewhere/m02.yaml']);
    assert.equal(outside.code, 2);
    assert.equal(
      outside.stderr,
      `edgezoo: elsewhere/m02.yaml: ${path.join(root, 'elsewhere', 'm02.yaml')} is not in the project's recipes/ folder (${path.join(root, 'recipes')})\nhint: a build works on recipes/<name>.yaml of the project; move the recipe there, or pass -C PROJECT\n`,
    );
    const missing = await runCli(root, ['build', 'recipes/nope.yaml']);
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, 'edgezoo: no such recipe file or folder: recipes/nope.yaml\n');
  });
});
