import assert from 'node:assert/strict';
import { test } from 'node:test';
import { annotate } from '../../scripts/ci/annotate.js';
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
