import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { exportOutputs } from '../../src/build/index.js';

test('an export under an unchanged fingerprint is skipped, unless the step has just run again', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-export-'));
  const source = path.join(root, 'entry');
  const target = path.join(root, 'zoo', 'm', '1.0.0');
  mkdirSync(source);
  writeFileSync(path.join(source, 'manifest.json'), 'old');
  assert.equal(await exportOutputs(source, ['manifest.json'], target, 'fp1'), 'written');
  writeFileSync(path.join(source, 'manifest.json'), 'new');
  assert.equal(await exportOutputs(source, ['manifest.json'], target, 'fp1'), 'unchanged');
  assert.equal(readFileSync(path.join(target, 'manifest.json'), 'utf8'), 'old');
  // --force re-ran the step under the same fingerprint: its new outputs must reach the zoo.
  assert.equal(await exportOutputs(source, ['manifest.json'], target, 'fp1', { fresh: true }), 'written');
  assert.equal(readFileSync(path.join(target, 'manifest.json'), 'utf8'), 'new');
  rmSync(root, { recursive: true, force: true });
});
