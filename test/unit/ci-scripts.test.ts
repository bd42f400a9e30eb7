import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { annotate } from '../../scripts/ci/annotate.js';
import { renderBuildSummary } from '../../scripts/ci/build-summary.js';
import { readManifestIfAny, writeModelVersion } from '../../src/zoo/index.js';
import { sampleVersionInput } from '../fixtures/sample-zoo.js';
import { recipesTouched } from '../../scripts/ci/changed-recipes.js';

test('changed-recipes maps recipe and model files to names, and edgezoo changes to every recipe', () => {
  const existing = ['mtcnn-onet', 'silero-vad', 'zeta'];
  assert.deepEqual(
    recipesTouched(['recipes/silero-vad.yaml', 'models/mtcnn-onet/val/001.png', 'README.md'], existing),
    ['mtcnn-onet', 'silero-vad'],
  );
  assert.deepEqual(recipesTouched(['recipes/gone.yaml', 'models/gone/x.npy'], existing), []);
  assert.deepEqual(recipesTouched(['src/plan/plan.ts'], existing), ['mtcnn-onet', 'silero-vad', 'zeta']);
  assert.deepEqual(recipesTouched(['package-lock.json', 'recipes/zeta.yaml'], existing), [
    'mtcnn-onet',
    'silero-vad',
    'zeta',
  ]);
});

test('annotate turns check problems into file:line:col errors and fails', () => {
  const report = {
    ok: false,
    recipeCount: 2,
    problemCount: 1,
    recipes: [
      {
        file: 'recipes/a.yaml',
        ok: false,
        problems: [
          {
            file: 'recipes/a.yaml',
            line: 3,
            col: 5,
            code: 'X',
            message: 'source.onnx.sha256: expected 64 hex digits, got "abc", 100%',
          },
        ],
      },
    ],
  };
  const { lines, ok } = annotate(JSON.stringify(report));
  assert.equal(ok, false);
  assert.deepEqual(lines, [
    '::error file=recipes/a.yaml,line=3,col=5,title=edgezoo check::source.onnx.sha256: expected 64 hex digits, got "abc", 100%25',
    '1 problems in 2 recipes',
  ]);
  assert.equal(annotate(JSON.stringify({ ok: true, recipeCount: 3, problemCount: 0, recipes: [] })).ok, true);
});

test('annotate reports root-cause build failures once, skips as notices, and needs a summary', () => {
  const events = [
    { type: 'plan', models: ['m'], steps: 3, skipped: 1 },
    { type: 'step-skipped', model: 'm', target: 'tflite/int8', reason: 'too lossy' },
    {
      type: 'step-failed',
      model: 'm',
      step: 'm/convert/tflite/fp32',
      reason: 'onnx2tf failed\nat node x',
      deterministic: false,
      cached: false,
      logFile: 'artifacts/logs/m/c.log',
    },
    {
      type: 'step-failed',
      model: 'm',
      step: 'm/validate/tflite/fp32',
      reason: 'blocked',
      blockedBy: 'm/convert/tflite/fp32',
      deterministic: false,
      cached: false,
    },
    {
      type: 'summary',
      ok: false,
      interrupted: false,
      models: [{ model: 'm', run: 1, cached: 0, failed: 2, skipped: 1 }],
    },
  ];
  const { lines, ok } = annotate(events.map((e) => JSON.stringify(e)).join('\n'));
  assert.equal(ok, false);
  assert.deepEqual(lines, [
    '::notice file=recipes/m.yaml::m tflite/int8 skipped: too lossy',
    '::error file=recipes/m.yaml,title=edgezoo build::m/convert/tflite/fp32: onnx2tf failed%0Aat node x (log: artifacts/logs/m/c.log)',
    'm: 1 run, 0 cached, 2 failed, 1 skipped',
  ]);
  const crashed = annotate(JSON.stringify({ type: 'plan', models: [], steps: 0, skipped: 0 }));
  assert.equal(crashed.ok, false);
  assert.match(crashed.lines.at(-1)!, /ended without a summary/);
});

test('build-summary renders built, failed and skipped targets per model version as a Markdown table', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-summary-'));
  try {
    const input = await sampleVersionInput(path.join(dir, 'work'), 'alpha', '1.0.0', [
      { format: 'onnx', precision: 'fp32' },
    ]);
    input.failed = [{ format: 'tflite', precision: 'int8', reason: 'cosine 0.41 | below 0.99\non logits' }];
    await writeModelVersion(path.join(dir, 'zoo'), input);
    const manifest = await readManifestIfAny(path.join(dir, 'zoo', 'alpha', '1.0.0'));
    const status = {
      schema: 'edgezoo.build-status/1' as const,
      versions: {
        'alpha@1.0.0': {
          ok: false,
          at: '2026-12-02T10:00:00.000Z',
          failures: ['alpha/validate/tflite/int8: cosine 0.41 below 0.99'],
        },
        'beta@2.0.0': { ok: false, at: '2026-12-02T10:00:00.000Z', failures: ['beta/prepare: onnxslim crashed'] },
      },
    };
    const markdown = renderBuildSummary(status, new Map([['alpha@1.0.0', manifest]]));
    assert.equal(
      markdown,
      [
        '## edgezoo build',
        '',
        '2 model version(s), 2 failed: **1 built, 2 failed, 1 skipped** target(s)',
        '',
        '| model | target | result | note |',
        '| --- | --- | --- | --- |',
        '| alpha@1.0.0 | onnx/fp32 | ✅ built | 1.75 ms |',
        '| alpha@1.0.0 | tflite/int8 | ❌ failed | cosine 0.41 \\| below 0.99 on logits |',
        '| alpha@1.0.0 | tflite/int16-act | ⏭️ skipped | not needed for a sample |',
        '| beta@2.0.0 | prepare | ❌ failed | beta/prepare: onnxslim crashed |',
        '',
      ].join('\n'),
    );
    assert.equal(
      renderBuildSummary({ schema: 'edgezoo.build-status/1', versions: {} }, new Map()),
      '## edgezoo build\n\nNo model was built.\n',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
