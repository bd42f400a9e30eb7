/**
 * The recurrent-states correction with the real onnx2tf (needs the tf venv): an ONNX LSTM that
 * leaves out its bias and initial states (zeros, by the ONNX spec; weights as initializers, as in a real
 * model) stopped onnx2tf 1.29 under every strategy ("An `initial_state` was passed that is not
 * compatible with `cell.state_size`"). With the zero states made explicit before every run, the
 * default strategy converts it on the first try, builtin-only, and it validates against
 * onnxruntime on the recipe's generated inputs.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ARTIFACT_FILE, readStepFile } from '../../src/build/step-files.js';
import { buildModel, saveModel } from '../../src/formats/onnx/index.js';
import { buildUpToConvert, sha256File, writeRecipe } from './convert-project.js';

function pseudoRandom(n: number, seed: number, scale: number): Float32Array {
  let state = seed;
  return Float32Array.from({ length: n }, () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return (state / 2 ** 31 - 0.5) * 2 * scale;
  });
}

test('LSTM without initial states: converts on the first try, builtin-only and validated', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-recurrent-states-'));
  try {
    const seq = 6;
    const features = 3;
    const hidden = 4;
    mkdirSync(path.join(root, 'models', 'lstm'), { recursive: true });
    const file = path.join(root, 'models', 'lstm', 'model.onnx');
    saveModel(
      buildModel({
        opset: 17,
        inputs: [{ name: 'x', shape: [seq, 1, features] }],
        outputs: [{ name: 'h', shape: [1, 1, hidden] }],
        nodes: [
          {
            op: 'LSTM',
            inputs: ['x', 'W', 'R'],
            outputs: ['', 'h'],
            name: 'lstm',
            attributes: { hidden_size: hidden },
          },
        ],
        initializers: [
          { name: 'W', data: pseudoRandom(4 * hidden * features, 1, 0.5), dims: [1, 4 * hidden, features] },
          { name: 'R', data: pseudoRandom(4 * hidden * hidden, 2, 0.5), dims: [1, 4 * hidden, hidden] },
        ],
      }),
      file,
    );
    writeRecipe(
      root,
      'lstm',
      [
        'name: lstm',
        'version: 0.1.0',
        'license: MIT',
        'description: one LSTM layer',
        'task: test',
        `source: { onnx: { path: models/lstm/model.onnx, sha256: ${sha256File(file)} } }`,
        `inputs: [{ name: x, shape: [${seq}, 1, ${features}], layout: LNC, range: [-1, 1] }]`,
        'targets: { tflite: [fp32] }',
        '',
      ].join('\n'),
    );
    const failures: string[] = [];
    const { outputs } = await buildUpToConvert(root, ['lstm'], (event) => {
      if (event.type === 'step-failed') failures.push(`${event.step}: ${event.reason}`);
    });
    assert.deepEqual(failures, []);
    const record = await readStepFile(outputs['lstm/convert/tflite/fp32']!, ARTIFACT_FILE);
    assert.equal(record.strategy, 'default');
    assert.deepEqual(
      record.attempts?.map((a) => [a.strategy, a.outcome]),
      [['default', 'passed']],
    );
    assert.equal(record.pin, undefined);
    assert.deepEqual(record.inspect.flexOps, []);
    assert.deepEqual(record.inspect.customOps, []);
    const log = readFileSync(path.join(root, 'artifacts', 'logs', 'lstm', 'convert-tflite-fp32.log'), 'utf8');
    assert.match(log, /lstm: zero B \[1, 32\] made explicit/);
    assert.match(log, /lstm: zero initial_h and initial_c \[1, 1, 4\] made explicit/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
