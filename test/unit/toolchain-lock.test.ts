import assert from 'node:assert/strict';
import { test } from 'node:test';
import { envDef } from '../../src/toolchain/envs.js';
import { satisfiesLock } from '../../src/toolchain/doctor.js';
import { renderLock } from '../../src/toolchain/setup.js';

test('a lock pins public versions: the CPU wheel torch==2.13.0+cpu is locked as torch==2.13.0', () => {
  const text = renderLock(envDef('torch'), '3.11.9', 'torch==2.13.0+cpu\nNumPy==2.4.6\npip==25.1\nonnx==1.23.2\n');
  const pins = text.split('\n').filter((line) => line && !line.startsWith('#'));
  assert.deepEqual(pins, ['NumPy==2.4.6', 'onnx==1.23.2', 'torch==2.13.0']);
});

test('doctor takes an installed local version as the locked public one, and nothing else', () => {
  assert.equal(satisfiesLock('2.13.0+cpu', '2.13.0'), true);
  assert.equal(satisfiesLock('2.13.0', '2.13.0'), true);
  assert.equal(satisfiesLock('2.13.0+cpu', '2.13.0+cpu'), true);
  assert.equal(satisfiesLock('2.13.0', '2.13.0+cpu'), false);
  assert.equal(satisfiesLock('2.13.1+cpu', '2.13.0'), false);
  assert.equal(satisfiesLock('2.13.0+cu121', '2.13.0+cpu'), false);
});
