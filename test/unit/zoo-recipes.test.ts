/**
 * The real zoo: every recipe in recipes/ passes `edgezoo check` and plans; each meets the zoo's
 * policies (zoo-policies.ts, stated in the README under "Add a model"); the zoo covers the source
 * kinds, tasks and modalities it promises.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkRecipes, discoverRecipes, type Recipe } from '../../src/recipe/index.js';
import {
  assertEveryTargetOrSkipped,
  assertLicenseText,
  assertPinnedPackageWeights,
  assertSamples,
} from './zoo-policies.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(repoRoot, 'src', 'cli', 'edgezoo.mjs');

async function loadZoo(): Promise<Recipe[]> {
  const results = await checkRecipes(await discoverRecipes(repoRoot), repoRoot);
  const problems = results.flatMap((result) =>
    result.problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`),
  );
  assert.deepEqual(problems, [], 'every recipe in recipes/ passes edgezoo check');
  return results.map((result) => result.recipe!);
}

const zoo = await loadZoo();
const byName = new Map(zoo.map((recipe) => [recipe.name, recipe]));
/** Axis letters that make an input an image (or other spatial) tensor. */
const SPATIAL = /[CHW]/;

describe('the zoo recipes', () => {
  test('the real CLI checks them all with exit 0', () => {
    const run = spawnSync(process.execPath, [cli, 'check'], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), `${zoo.length} recipes ok`);
  });

  test('they plan: every calibrated target has calibration, no unknown converter road', () => {
    const run = spawnSync(process.execPath, [cli, 'plan', '--json'], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const plan = JSON.parse(run.stdout) as { steps?: Array<{ id: string }> };
    const ids = new Set((plan.steps ?? []).map((step) => step.id));
    for (const recipe of zoo) assert.ok(ids.has(`${recipe.name}/package`), `${recipe.name} is planned`);
  });

  test('there are at least six models covering PyTorch, ONNX and TFLite sources', () => {
    assert.ok(zoo.length >= 6, `${zoo.length} recipes`);
    const kinds = new Set(zoo.map((recipe) => recipe.source.kind));
    assert.deepEqual([...kinds].sort(), ['onnx', 'pytorch', 'tflite']);
    assert.ok(
      zoo.some((recipe) => recipe.converters.tflite?.includes('litert-torch')),
      'one model goes through litert-torch',
    );
  });

  test('tasks cover classification, detection and landmarks or segmentation, and one model is not vision', () => {
    const tasks = zoo.map((recipe) => recipe.task);
    assert.ok(
      tasks.some((task) => task.endsWith('classification')),
      tasks.join(),
    );
    assert.ok(
      tasks.some((task) => task.endsWith('detection')),
      tasks.join(),
    );
    assert.ok(
      tasks.some((task) => /landmarks|segmentation/.test(task)),
      tasks.join(),
    );
    const nonVision = zoo.filter((recipe) => recipe.inputs.every((input) => !SPATIAL.test(input.layout)));
    assert.ok(nonVision.length >= 1, 'a model whose inputs have no image axes');
    assert.ok(
      nonVision.some((recipe) => recipe.tags.includes('audio')),
      'an audio model',
    );
  });

  test('the silero-vad recipe keeps its two streaming inputs and outputs', () => {
    const vad = byName.get('silero-vad');
    assert.ok(vad);
    assert.deepEqual(
      vad.inputs.map((input) => [input.name, input.shape]),
      [
        ['input', [1, 576]],
        ['state', [2, 1, 128]],
      ],
    );
    assert.deepEqual(
      vad.outputs.map((output) => output.name),
      ['output', 'stateN'],
    );
  });
});

for (const recipe of zoo) {
  describe(`zoo model ${recipe.name}`, () => {
    test('weights come from a registry package pinned to one version, with a sha256', () =>
      assertPinnedPackageWeights(recipe, repoRoot));
    test('its license text is in the repository and matches the SPDX id', () => assertLicenseText(recipe, repoRoot));
    test('every precision of every format is asked for, and each skip says why', () =>
      assertEveryTargetOrSkipped(recipe));
    test('samples exist, are small, load as model inputs, and calibration and validation are disjoint', () =>
      assertSamples(recipe, repoRoot));
  });
}
