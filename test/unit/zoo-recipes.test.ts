/**
 * The real zoo: every recipe in recipes/ passes `edgezoo check` and plans; its license text and
 * samples are in the repository (made by scripts/gen-model-samples.ts), load as model inputs and
 * keep calibration apart from validation; the zoo covers the source kinds, tasks and modalities
 * it promises; every target is either asked for or skipped with a reason.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BUILTIN_CATALOGUE } from '../../src/catalogue/index.js';
import { checkRecipes, discoverRecipes, type Recipe, type TargetFormat } from '../../src/recipe/index.js';
import { checkSampleSetsDisjoint, loadSamples, sampleFiles } from '../../src/validate/index.js';

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
const ALL_FORMATS: TargetFormat[] = BUILTIN_CATALOGUE.formatNames();
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
      zoo.some((recipe) => recipe.converters.tflite === 'litert-torch'),
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
    test('weights come from a registry package pinned to one version, with a sha256', () => {
      const file = recipe.source.kind === 'pytorch' ? recipe.source.weights : recipe.source.file;
      assert.ok(file, 'the source names its file');
      assert.equal(file.location.kind, 'package');
      if (file.location.kind === 'package') {
        assert.match(file.location.version, /^\d+(\.\d+)+$/);
        assert.match(file.location.file, /^[a-z_]+\/.+\.(onnx|tflite|pt)$/);
      }
      assert.match(file.sha256, /^[0-9a-f]{64}$/);
      if (recipe.source.kind === 'pytorch') {
        assert.ok(
          recipe.source.factory.isFile,
          'the architecture is our own file, not the package (which imports torchvision)',
        );
        const code = path.join(repoRoot, recipe.source.factory.module);
        assert.ok(existsSync(code), code);
        assert.match(readFileSync(code, 'utf8'), new RegExp(`^def ${recipe.source.factory.function}\\(`, 'm'));
      }
    });

    test('its license text is in the repository and matches the SPDX id', () => {
      assert.ok(recipe.licenseFile, 'license_file is set');
      const text = readFileSync(path.join(repoRoot, recipe.licenseFile), 'utf8');
      const expected: Record<string, RegExp> = { 'Apache-2.0': /Apache License\s+Version 2\.0/, MIT: /^MIT License/m };
      assert.ok(expected[recipe.license], `license ${recipe.license} is one the zoo knows the text of`);
      assert.match(text, expected[recipe.license]!);
    });

    test('every precision of every format is asked for, and each skip says why', () => {
      for (const format of ALL_FORMATS) {
        assert.deepEqual(
          [...(recipe.targets[format] ?? [])].sort(),
          [...BUILTIN_CATALOGUE.precisionsOf(format)].sort(),
          `${format} targets`,
        );
      }
      for (const [target, reason] of Object.entries(recipe.skip)) {
        // A reason names the tool and what it did: at least a sentence, not "broken".
        assert.ok(reason.length >= 40, `${target}: "${reason}" is too short to say why`);
        assert.match(
          reason,
          /onnx2tf|onnxruntime|litert-torch|TFLiteConverter|openvino|tf2onnx/,
          `${target}: the reason names the tool`,
        );
      }
    });

    test('samples exist, are small, load as model inputs, and calibration and validation are disjoint', async () => {
      await checkSampleSetsDisjoint(recipe, repoRoot);
      for (const kind of ['calibration', 'validation'] as const) {
        const set = kind === 'calibration' ? recipe.calibration : recipe.validation;
        assert.ok(set?.samples, `${kind} samples are given (real inputs, not noise)`);
        const files = await sampleFiles(recipe, repoRoot, kind);
        const perSample = recipe.inputs.length;
        assert.equal(files.length, set.count * perSample, `${kind}: ${set.count} samples of ${perSample} file(s) each`);
        const loaded = await loadSamples(recipe, repoRoot, kind);
        assert.equal(loaded.synthetic, false);
        assert.equal(loaded.samples.length, set.count);
        for (const input of recipe.inputs) {
          const tensor = loaded.samples[0]!.inputs[input.name]!;
          assert.deepEqual(tensor.dims, input.shape, `${kind} ${input.name} dims`);
          let low = Infinity;
          let high = -Infinity;
          for (const sample of loaded.samples) {
            for (const value of sample.inputs[input.name]!.data as Float32Array) {
              low = Math.min(low, value);
              high = Math.max(high, value);
            }
          }
          const [min, max] = input.range;
          assert.ok(
            low >= min - 1e-3 && high <= max + 1e-3,
            `${kind} ${input.name} values [${low}, ${high}] within range [${min}, ${max}]`,
          );
          assert.ok(
            high - low > (max - min) * 0.3,
            `${kind} ${input.name} values [${low}, ${high}] use the range (not blank samples)`,
          );
        }
      }
      const folder = path.join(repoRoot, 'models', recipe.name);
      const bytes = [
        ...(await sampleFiles(recipe, repoRoot, 'calibration')),
        ...(await sampleFiles(recipe, repoRoot, 'validation')),
      ]
        .map((file) => statSync(path.join(repoRoot, file)).size)
        .reduce((a, b) => a + b, 0);
      assert.ok(bytes < 2.5 * 1024 * 1024, `${folder}: samples take ${bytes} bytes`);
    });
  });
}
