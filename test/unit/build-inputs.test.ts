/**
 * Sample files as build inputs: the planner's digest and the sample loader see the same files
 * (one glob), so editing any sample invalidates the steps that read it; and a sample that
 * leads outside the project is refused by the build, not read.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { computeInputDigests, planBuild } from '../../src/plan/index.js';
import { loadSamples } from '../../src/validate/index.js';
import { makeRecipe, targets, TEST_TOOLCHAIN } from './build-fixtures.js';

function project(t: { after(fn: () => void): void }): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-inputs-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

async function writeImage(file: string, grey: number): Promise<void> {
  mkdirSync(path.dirname(file), { recursive: true });
  const pixels = Buffer.alloc(8 * 8 * 3, grey);
  await sharp(pixels, { raw: { width: 8, height: 8, channels: 3 } })
    .toFormat(file.endsWith('.png') ? 'png' : 'jpeg')
    .toFile(file);
}

const braceRecipe = makeRecipe('x', {
  validation: { samples: 'models/x/val/*.{png,jpg}', count: 4, topk: 1, seed: 0 },
  targets: targets('onnx/fp32'),
});

async function validateFingerprints(root: string, statCacheFile: string): Promise<Map<string, string>> {
  const digests = await computeInputDigests([braceRecipe], root, { statCacheFile });
  const plan = planBuild([braceRecipe], TEST_TOOLCHAIN, digests);
  return new Map(plan.steps.map((step) => [step.id, step.fingerprint]));
}

test('editing a sample matched by *.{png,jpg} changes the validate fingerprint (was a stale cache hit)', async (t) => {
  const root = project(t);
  const statCacheFile = path.join(root, 'artifacts', 'cache', '.input-digests.json');
  await writeImage(path.join(root, 'models/x/val/a.png'), 10);
  await writeImage(path.join(root, 'models/x/val/b.jpg'), 20);
  const before = await validateFingerprints(root, statCacheFile);
  const validateId = [...before.keys()].find((id) => id.includes('validate'));
  assert.ok(validateId, `a validate step in ${[...before.keys()].join(', ')}`);

  // The loader reads both files: the glob is not empty for it.
  const loaded = await loadSamples(braceRecipe, root, 'validation');
  assert.deepEqual(loaded.files, ['models/x/val/a.png', 'models/x/val/b.jpg']);

  await writeImage(path.join(root, 'models/x/val/a.png'), 200);
  // A new mtime as an editor would leave, even within one clock tick of the first write.
  utimesSync(path.join(root, 'models/x/val/a.png'), new Date(), new Date(Date.now() + 5000));
  const after = await validateFingerprints(root, statCacheFile);
  assert.notEqual(after.get(validateId), before.get(validateId), 'validate must run again');
  const fetchId = [...before.keys()].find((id) => id.includes('fetch'))!;
  assert.equal(after.get(fetchId), before.get(fetchId), 'steps that do not read samples stay cached');

  // A new file that the glob matches counts as well.
  await writeImage(path.join(root, 'models/x/val/c.jpg'), 30);
  const added = await validateFingerprints(root, statCacheFile);
  assert.notEqual(added.get(validateId), after.get(validateId));
});

test('a sample symlinked to a file outside the project is refused by the build, naming the link', async (t) => {
  const root = project(t);
  const outside = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-inputs-outside-'));
  t.after(() => rmSync(outside, { recursive: true, force: true }));
  await writeImage(path.join(root, 'models/x/val/a.png'), 10);
  writeFileSync(path.join(outside, 'private.jpg'), 'whatever is there');
  symlinkSync(path.join(outside, 'private.jpg'), path.join(root, 'models/x/val/b.jpg'));
  const refused = (error: unknown) => {
    const e = error as { code?: string; message?: string };
    assert.equal(e.code, 'PATH_OUTSIDE_PROJECT');
    assert.match(
      e.message ?? '',
      /^"models\/x\/val\/\*\.\{png,jpg\}" matches models\/x\/val\/b\.jpg, which leads outside the project through a symlink \(to .*private\.jpg\)$/,
    );
    return true;
  };
  // Planning (the build's first act) and the loader both refuse it.
  await assert.rejects(computeInputDigests([braceRecipe], root), refused);
  await assert.rejects(loadSamples(braceRecipe, root, 'validation'), refused);
});
