/**
 * Every malformed recipe under test/fixtures/recipes/invalid/ with the exact problems people
 * read (file:line:col: message), loaded through the library in a throw-away project. Two more
 * cases need the file system and are built here: a symlink leading out of the project and a
 * file over the size limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatProblem, loadRecipe, parseRecipeText } from '../../src/recipe/index.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/recipes');
const invalidDir = path.join(fixtures, 'invalid');

/** The full output of each fixture, as `edgezoo check` prints it. */
const expected: Record<string, string[]> = {
  'absolute-path': [
    'recipes/absolute-path.yaml:8:11: source.onnx.path: an absolute path is not allowed; expected a path relative to the project root, received "/etc/passwd"',
  ],
  'alias-bomb': [
    'recipes/alias-bomb.yaml:15:16: too many alias expansions (more than 64); aliases here expand into a very large document',
  ],
  'backslash-path': [
    'recipes/backslash-path.yaml:8:11: source.onnx.path: paths use forward slashes; a backslash is not allowed',
  ],
  'bad-factory': [
    'recipes/bad-factory.yaml:8:14: source.pytorch.factory: expected a Python file of the project under models/ and its function, such as "models/my-model/model.py:build" (not a module of an installed package: the build imports and runs the factory), received "models/bad-factory/model:build"',
  ],
  'bad-semver': ['recipes/bad-semver.yaml:2:10: version: expected a semver version such as "1.0.0", received "1.0"'],
  'bad-sha256': [
    'recipes/bad-sha256.yaml:9:13: source.onnx.sha256: expected a sha256: 64 hexadecimal digits, received "abc123"',
  ],
  'bad-skip-key': [
    'recipes/bad-skip-key.yaml:15:3: skip: unknown target "tflite-int8"; expected "format/precision" such as "tflite/int8"; did you mean "tflite/int8"?',
  ],
  'bad-spdx-expression': ['recipes/bad-spdx-expression.yaml:3:10: license: SPDX operators are upper-case: write "OR"'],
  'bad-spdx': ['recipes/bad-spdx.yaml:3:10: license: unknown SPDX license id "Apache2"; did you mean "Apache-2.0"?'],
  binary: ['recipes/binary.yaml:3:1: this is a binary file (it contains a NUL byte); expected a YAML text file'],
  'comments-only': [
    'recipes/comments-only.yaml:1:1: the recipe is empty; expected a mapping starting with name, version, license, ...',
  ],
  'custom-tag': [
    'recipes/custom-tag.yaml:14:11: YAML tag !!python/object/apply:os.system is not allowed; recipes hold plain values (strings, numbers, lists, mappings)',
  ],
  'deep-nesting': [
    'recipes/deep-nesting.yaml:14:45: mappings and lists are nested more than 32 levels deep; a recipe needs far fewer',
  ],
  'dotdot-path': [
    'recipes/dotdot-path.yaml:8:11: source.onnx.path: the path leaves the project: ".." segments are not allowed',
  ],
  'duplicate-key': [
    'recipes/duplicate-key.yaml:14:1: duplicate key "license"; each key may appear only once in a mapping',
  ],
  empty: ['recipes/empty.yaml:1:1: the recipe is empty; expected a mapping starting with name, version, license, ...'],
  'int8-no-calibration': [
    'recipes/int8-no-calibration.yaml:14:18: targets.tflite[1]: int8 needs calibration samples; add calibration: { samples: models/int8-no-calibration/calib/*.npy } (or skip this target)',
  ],
  'invalid-utf8': [
    'recipes/invalid-utf8.yaml:3:17: the file is not valid UTF-8 (bad byte 0xe9); save it as UTF-8 text',
  ],
  'layout-rank': [
    'recipes/layout-rank.yaml:11:53: inputs[0].layout: layout "NHW" has 3 letters but the shape has 4 dims; expected one letter per dim',
  ],
  'local-tag': [
    'recipes/local-tag.yaml:14:13: YAML tag !imagenet is not allowed; recipes hold plain values (strings, numbers, lists, mappings)',
  ],
  'many-problems': [
    'recipes/many-problems.yaml:1:7: name: expected lower-case letters, digits and single dashes, such as "mobilenet-v2", received "Many_Problems"',
    'recipes/many-problems.yaml:1:7: name: "Many_Problems" must equal the file\'s base name "many-problems" (rename the file or the recipe)',
    'recipes/many-problems.yaml:2:10: version: expected a semver version such as "1.0.0", received "one"',
    'recipes/many-problems.yaml:3:10: license: unknown SPDX license id "Proprietary"; use an id from https://spdx.org/licenses/ or LicenseRef-<name>',
    'recipes/many-problems.yaml:4:14: description: expected a non-empty string, received an empty string',
    'recipes/many-problems.yaml:7:16: source.onnx.url: expected an https:// URL (plain http only for 127.0.0.1/localhost), received "ftp://example.com/m.onnx"',
    'recipes/many-problems.yaml:7:52: source.onnx.sha256: expected a sha256: 64 hexadecimal digits, received "xyz"',
    'recipes/many-problems.yaml:8:9: inputs: expected at least 1 item, received a list of 0 items',
    'recipes/many-problems.yaml:10:14: targets.openvino[0]: openvino does not support precision "int16-act"; openvino builds fp32, fp16, int8',
    'recipes/many-problems.yaml:11:8: opset: expected a number >= 7, received the number 3',
  ],
  'merge-key': [
    'recipes/merge-key.yaml:16:3: YAML merge keys ("<<") are not allowed; write the keys out (an alias "*name" may repeat a whole value)',
  ],
  'missing-required': [
    'recipes/missing-required.yaml:1:1: missing required key "license" (SPDX license id or expression of the model weights, e.g. Apache-2.0, MIT, "CC-BY-NC-4.0", or LicenseRef-<name> with `license_file`)',
    'recipes/missing-required.yaml:1:1: missing required key "task" (What the model does, kebab-case: image-classification, object-detection, face-detection, segmentation, ...)',
    'recipes/missing-required.yaml:6:5: source.onnx: missing required key "sha256" (sha256 of the file, 64 hex digits (`sha256sum FILE`))',
  ],
  'multi-document': [
    'recipes/multi-document.yaml:14:1: a recipe file holds one YAML document; found a second one after "---" (one model per file)',
  ],
  'name-mismatch': [
    'recipes/name-mismatch.yaml:1:7: name: "mobilenet-v3" must equal the file\'s base name "name-mismatch" (rename the file or the recipe)',
  ],
  'no-source': [
    'recipes/no-source.yaml:6:9: source: expected exactly one of onnx, tflite, pytorch, package; received none',
  ],
  'not-mapping': [
    'recipes/not-mapping.yaml:1:1: expected a mapping of recipe keys (name: ..., version: ...) at the top level, received a list',
  ],
  'number-version': [
    'recipes/number-version.yaml:2:10: version: expected a string, received the number 1.0 (write it in quotes: "1.0")',
  ],
  'package-format': [
    'recipes/package-format.yaml:7:52: source.package.file: cannot tell the model format of "facenet_pytorch/data/onet.pt"; expected a file ending in .onnx or .tflite (for other files use source.pytorch with weights.package)',
  ],
  'precision-for-target': [
    'recipes/precision-for-target.yaml:13:20: targets.openvino[1]: openvino does not support precision "int16-act"; openvino builds fp32, fp16, int8',
  ],
  'proto-key': ['recipes/proto-key.yaml:15:3: the key "__proto__" is not allowed (it could change object prototypes)'],
  'same-samples': [
    'recipes/same-samples.yaml:15:24: validation.samples: the same samples as calibration.samples; validating on calibration data hides quantisation error, so use a separate set',
  ],
  'scalar-top-level': [
    'recipes/scalar-top-level.yaml:1:1: expected a mapping of recipe keys (name: ..., version: ...) at the top level, received the scalar "just a sentence, not a recipe"',
  ],
  // Two letters swapped is one edit (Damerau), so the suggestion comes (plain Levenshtein counted 2).
  'transposed-key': ['recipes/transposed-key.yaml:1:1: unknown key "nmae"; did you mean "name"?'],
  'two-locations': [
    'recipes/two-locations.yaml:9:5: source.tflite: expected exactly one of url, path, package; received url and path',
  ],
  'two-sources': [
    'recipes/two-sources.yaml:8:3: source: expected exactly one of onnx, tflite, pytorch, package; received onnx and tflite',
  ],
  'typo-key': ['recipes/typo-key.yaml:6:1: unknown key "sorce"; did you mean "source"?'],
  'undeclared-dynamic-dim': [
    'recipes/undeclared-dynamic-dim.yaml:12:13: inputs[0].shape[0]: dim "batch" is dynamic but not declared; give it a fixed size (edge runtimes need static shapes) or list it in inputs[0].dynamic to keep it dynamic on purpose',
  ],
  'unknown-converter-format': [
    'recipes/unknown-converter-format.yaml:15:3: converters: unknown key "openvino"; expected one of: tflite, tflite/fp32, tflite/fp16, tflite/dynamic-int8, tflite/int8, tflite/int16-act',
  ],
  'unknown-converter': [
    'recipes/unknown-converter.yaml:15:11: converters.tflite: expected one of onnx2tf, litert-torch, received "tf-lite"',
  ],
  'unknown-precision': [
    'recipes/unknown-precision.yaml:13:18: targets.tflite[1]: unknown precision "int4"; expected one of fp32, fp16, dynamic-int8, int8, int16-act; did you mean "int8"?',
  ],
  'unknown-target': [
    'recipes/unknown-target.yaml:14:3: targets: unknown key "coreml"; expected one of: onnx, tflite, openvino',
  ],
  'unpinned-package': [
    'recipes/unpinned-package.yaml:7:20: source.package.pypi: expected a PyPI requirement pinned to one version, such as "facenet-pytorch==2.6.0", received "facenet-pytorch>=2.5"',
  ],
  'wrong-type-in-list': [
    'recipes/wrong-type-in-list.yaml:12:19: inputs[0].shape[2]: expected a positive integer or the name of a dynamic dim, received the boolean true',
    'recipes/wrong-type-in-list.yaml:13:16: inputs[0].range[1]: expected a number, received "high"',
  ],
  'wrong-type': ['recipes/wrong-type.yaml:14:8: opset: expected a number, received "seventeen"'],
  'yaml-syntax': [
    'recipes/yaml-syntax.yaml:11:43: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]',
    'recipes/yaml-syntax.yaml:11:44: YAML syntax error: Flow map in block collection must be sufficiently indented and end with a }',
  ],
};

function makeProject(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'edgezoo-recipe-'));
  mkdirSync(path.join(root, 'recipes'));
  return root;
}

test('every fixture file has pinned output and every pinned case has a file (at least 30 cases)', () => {
  const files = readdirSync(invalidDir)
    .filter((name) => name.endsWith('.yaml'))
    .map((name) => name.replace(/\.yaml$/, ''))
    .sort();
  // symlink-escape needs a symlink made at test time, so its output is pinned in its own test.
  assert.deepEqual(
    files.filter((name) => name !== 'symlink-escape'),
    Object.keys(expected).sort(),
  );
  assert.ok(files.length >= 30, `only ${files.length} malformed recipes`);
});

test('each malformed recipe reports exactly its pinned problems through loadRecipe', async (t) => {
  const root = makeProject();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const [name, lines] of Object.entries(expected)) {
    const file = path.join(root, 'recipes', `${name}.yaml`);
    copyFileSync(path.join(invalidDir, `${name}.yaml`), file);
    const result = await loadRecipe(file, root);
    assert.deepEqual(result.problems.map(formatProblem), lines, `output of ${name}.yaml`);
    assert.equal(result.recipe, undefined, `${name}.yaml must not yield a recipe`);
    for (const problem of result.problems) {
      assert.match(problem.code, /^RECIPE_[A-Z_0-9]+$/);
      assert.doesNotMatch(problem.message, /\n|\bat .*\.ts:\d+|Error:/, `no stack trace or raw error in ${name}.yaml`);
    }
  }
});

test('parseRecipeText gives the same problems as loadRecipe for the text fixtures', () => {
  for (const [name, lines] of Object.entries(expected)) {
    if (name === 'binary' || name === 'invalid-utf8') continue; // byte-level checks live in loadRecipe
    const text = readFileSync(path.join(invalidDir, `${name}.yaml`), 'utf8');
    const parsed = parseRecipeText(text, `recipes/${name}.yaml`);
    assert.deepEqual(parsed.problems.map(formatProblem), lines, `output of ${name}.yaml`);
  }
});

test('a path through a symlink that leaves the project is refused with the link named', async (t) => {
  const root = makeProject();
  const outside = mkdtempSync(path.join(tmpdir(), 'edgezoo-outside-'));
  t.after(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });
  const file = path.join(root, 'recipes', 'symlink-escape.yaml');
  copyFileSync(path.join(invalidDir, 'symlink-escape.yaml'), file);
  // Without the link the same recipe is valid: the text is fine, only the disk says otherwise.
  assert.deepEqual((await loadRecipe(file, root)).problems, []);
  mkdirSync(path.join(root, 'models', 'symlink-escape'), { recursive: true });
  symlinkSync(outside, path.join(root, 'models', 'symlink-escape', 'linked'));
  const result = await loadRecipe(file, root);
  assert.deepEqual(result.problems.map(formatProblem), [
    `recipes/symlink-escape.yaml:8:11: source.onnx.path: "models/symlink-escape/linked/model.onnx" leaves the project through the symlink models/symlink-escape/linked -> ${realpathSync(outside)}; keep model files inside the project`,
  ]);
  assert.equal(result.problems[0]?.code, 'RECIPE_PATH_ESCAPES');
});

test('a symlink that stays inside the project is fine', async (t) => {
  const root = makeProject();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(root, 'models', 'shared'), { recursive: true });
  mkdirSync(path.join(root, 'models', 'symlink-escape'), { recursive: true });
  symlinkSync(path.join(root, 'models', 'shared'), path.join(root, 'models', 'symlink-escape', 'linked'));
  const file = path.join(root, 'recipes', 'symlink-escape.yaml');
  copyFileSync(path.join(invalidDir, 'symlink-escape.yaml'), file);
  assert.deepEqual((await loadRecipe(file, root)).problems, []);
});

test('a sample glob matching a symlink that leads out of the project is refused, naming the file', async (t) => {
  const root = makeProject();
  const outside = mkdtempSync(path.join(tmpdir(), 'edgezoo-outside-'));
  t.after(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });
  const file = path.join(root, 'recipes', 'linked-sample.yaml');
  const text = readFileSync(path.join(invalidDir, 'symlink-escape.yaml'), 'utf8')
    .replaceAll('symlink-escape', 'linked-sample')
    .replace('inputs:', 'validation: { samples: "models/linked-sample/val/*.{png,jpg}" }\ninputs:')
    // Image samples: the input's range must be what the (default) preprocess makes of pixels.
    .replace('shape: [1, 3, 224, 224] }', 'shape: [1, 3, 224, 224], range: [0, 255] }');
  writeFileSync(file, text);
  const val = path.join(root, 'models', 'linked-sample', 'val');
  mkdirSync(val, { recursive: true });
  writeFileSync(path.join(val, 'a.png'), 'inside');
  writeFileSync(path.join(outside, 'b.jpg'), 'outside');
  assert.deepEqual((await loadRecipe(file, root)).problems, []);
  // The folder is inside the project; only the file is a link out of it.
  symlinkSync(path.join(outside, 'b.jpg'), path.join(val, 'b.jpg'));
  const result = await loadRecipe(file, root);
  assert.deepEqual(result.problems.map(formatProblem), [
    `recipes/linked-sample.yaml:10:24: validation.samples: "models/linked-sample/val/*.{png,jpg}" matches models/linked-sample/val/b.jpg, which leads outside the project through a symlink (to ${realpathSync(path.join(outside, 'b.jpg'))}); keep sample files inside the project`,
  ]);
  assert.equal(result.problems[0]?.code, 'RECIPE_PATH_ESCAPES');
});

test('a recipe over 1 MiB is refused before it is read', async (t) => {
  const root = makeProject();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const file = path.join(root, 'recipes', 'too-large.yaml');
  writeFileSync(file, `name: too-large\ndescription: "${'x'.repeat(1024 * 1024 + 100)}"\n`);
  const result = await loadRecipe(file, root);
  assert.deepEqual(result.problems.map(formatProblem), [
    'recipes/too-large.yaml:1:1: the recipe is 1025 KiB; recipes are limited to 1024 KiB (keep data in models/<name>/ and point to it)',
  ]);
  // The pure parser applies the same limit to text it is given.
  assert.equal(
    parseRecipeText(readFileSync(file, 'utf8'), 'recipes/too-large.yaml').problems[0]?.code,
    'RECIPE_TOO_LARGE',
  );
});

test('flow nesting deep enough to crash the YAML parser is stopped before parsing', () => {
  const text = `name: deep\ntags: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`;
  const problems = parseRecipeText(text, 'recipes/deep.yaml').problems.map(formatProblem);
  assert.deepEqual(problems, [
    'recipes/deep.yaml:2:39: mappings and lists are nested more than 32 levels deep; a recipe needs far fewer',
  ]);
});

test('loading __proto__ keys never pollutes Object.prototype', async () => {
  const text = readFileSync(path.join(invalidDir, 'proto-key.yaml'), 'utf8');
  parseRecipeText(text, 'recipes/proto-key.yaml');
  parseRecipeText('name: x\nconstructor: { prototype: { polluted: true } }\n', 'recipes/x.yaml');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
