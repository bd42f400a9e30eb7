/**
 * With networking cut off (`unshare -n`, a new network namespace with only a down loopback), the
 * whole convert pipeline of the tiny CNN still succeeds: no converter downloads anything
 * (onnx2tf's sample images are pre-placed, calibration is always explicit, OpenVINO telemetry is
 * off). Needs root (or unprivileged user namespaces) and the venvs; skipped when unshare cannot run.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { tinyCnnRecipe, trainTinyCnn, writeRecipe } from './convert-project.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const probe = spawnSync('unshare', ['-n', 'true']);
const canCut = probe.status === 0;

test('the tiny CNN converts to every target with the network cut off', {
  skip: canCut ? false : `unshare -n is not available: ${probe.stderr?.toString().trim() || probe.error?.message}`,
}, () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-offline-'));
  try {
    // The namespace really has no way out: a TCP connection to a public address fails at once.
    const reach = spawnSync(
      'unshare',
      [
        '-n',
        process.execPath,
        '-e',
        "require('net').connect(443, '1.1.1.1').on('error', (e) => { console.log(e.code); process.exit(0) }).on('connect', () => process.exit(3))",
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    assert.equal(reach.status, 0);
    assert.match(reach.stdout, /ENETUNREACH|EHOSTUNREACH|ECONNREFUSED/);

    const { weightsSha256 } = trainTinyCnn(root);
    writeRecipe(
      root,
      'tiny-cnn',
      tinyCnnRecipe(
        'tiny-cnn',
        weightsSha256,
        '{ onnx: [fp32, fp16, dynamic-int8, int8], tflite: [fp32, fp16, dynamic-int8, int8, int16-act], openvino: [fp32, fp16] }',
      ),
    );
    writeRecipe(
      root,
      'tiny-cnn-litert',
      tinyCnnRecipe('tiny-cnn-litert', weightsSha256, '{ tflite: [fp32, int8] }', 'litert-torch'),
    );
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-offline-cwd-'));
    const run = spawnSync(
      'unshare',
      [
        '-n',
        process.execPath,
        '--import',
        import.meta.resolve('tsx'),
        path.join(repo, 'test', 'integration', 'convert-project.ts'),
        root,
        'tiny-cnn',
        'tiny-cnn-litert',
      ],
      {
        cwd,
        encoding: 'utf8',
        timeout: 540_000,
        env: { ...process.env, NODE_OPTIONS: '' },
      },
    );
    assert.equal(run.status, 0, `build failed offline:\n${run.stderr.slice(-4000)}`);
    const summary = JSON.parse(run.stdout.trim().split('\n').pop()!) as {
      ok: boolean;
      models: Array<{ model: string; run: number; failed: number }>;
    };
    assert.equal(summary.ok, true);
    // fetch + prepare + reference (converts are judged against it) + one onnx2tf run for the float
    // precisions + 11 converts; fetch + reference + 2 converts (litert-torch reads the weights, no prepare).
    assert.deepEqual(
      summary.models.map((m) => [m.model, m.run, m.failed]),
      [
        ['tiny-cnn', 15, 0],
        ['tiny-cnn-litert', 4, 0],
      ],
    );
    // onnx2tf's sample file went to a private folder, never to the working directory.
    assert.deepEqual(readdirSync(cwd), []);
    assert.ok(!existsSync(path.join(root, 'calibration_image_sample_data_20x128x128x3_float32.npy')));
    rmSync(cwd, { recursive: true, force: true });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
