/**
 * Valid recipes and their normalised form, defaults, every source kind, the cross-file rules,
 * and the small pure helpers (SPDX, suggestions, project paths).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  checkProjectPath,
  checkRecipes,
  checkSpdxExpression,
  discoverRecipes,
  formatProblem,
  isEdgezooRecipeError,
  loadRecipe,
  parseRecipeText,
  requireRecipe,
  type Recipe,
} from '../../src/recipe/index.js';
import { nearest } from '../../src/recipe/suggest.js';
import { globBase } from '../../src/util/glob.js';
import { editDistance } from '../../src/util/text.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/recipes');
const SHA = '5c1b9f1e4b3d2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f';

function minimal(name: string, source: string, extra = ''): string {
  return `name: ${name}\nversion: 0.1.0\nlicense: MIT\ndescription: Tiny.\ntask: image-classification\n${source}inputs:\n  - { name: x, shape: [1, 16] }\n${extra}`;
}

function parseOk(text: string, file: string): Recipe {
  const parsed = parseRecipeText(text, file);
  assert.deepEqual(parsed.problems.map(formatProblem), []);
  assert.ok(parsed.recipe);
  return parsed.recipe;
}

test('the example recipe loads and normalises to the Recipe contract', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'edgezoo-valid-'));
  try {
    mkdirSync(path.join(root, 'recipes'));
    const file = path.join(root, 'recipes', 'mobilenet-v2.yaml');
    copyFileSync(path.join(fixtures, 'valid/mobilenet-v2.yaml'), file);
    const result = await loadRecipe(file, root);
    assert.deepEqual(result.problems, []);
    assert.equal(result.file, 'recipes/mobilenet-v2.yaml');
    assert.deepEqual(result.recipe, {
      name: 'mobilenet-v2',
      version: '1.0.0',
      license: 'Apache-2.0',
      description: 'ImageNet classifier, 1000 classes.',
      task: 'image-classification',
      homepage: 'https://github.com/onnx/models',
      tags: ['imagenet', 'mobile'],
      // The sha256 was written in upper case; the contract holds lower case.
      source: {
        kind: 'onnx',
        file: { location: { kind: 'path', path: 'models/mobilenet-v2/model.onnx' }, sha256: SHA },
      },
      inputs: [
        { name: 'input', shape: [1, 3, 224, 224], dynamic: [], layout: 'NCHW', dtype: 'float32', range: [0, 1] },
      ],
      outputs: [{ name: 'logits', classifier: true }],
      preprocess: {
        resize: true,
        channelOrder: 'rgb',
        scale: 0.00392156862745098,
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
      },
      calibration: { samples: 'models/mobilenet-v2/calib/*.npy', count: 32 },
      validation: { samples: 'models/mobilenet-v2/val/*.npy', count: 16, topk: 5, seed: 0 },
      replacements: { kind: 'path', path: 'models/mobilenet-v2/replace.json' },
      targets: {
        onnx: ['fp32', 'fp16', 'int8'],
        tflite: ['fp32', 'fp16', 'dynamic-int8', 'int8'],
        openvino: ['fp32', 'fp16'],
      },
      skip: { 'tflite/int8': 'onnx2tf full-integer quantisation loses too much accuracy on this model' },
      converters: {},
      strategies: {},
      allowOps: {},
      opset: 17,
      tolerances: { fp16: { atol: 0.01 }, 'tflite/dynamic-int8': { top1: 0.9 } },
    });
    assert.equal((await requireRecipe(file, root)).name, 'mobilenet-v2');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a minimal recipe gets every default', () => {
  const recipe = parseOk(
    minimal('tiny', `source:\n  onnx: { url: "https://example.com/tiny.onnx", sha256: ${SHA} }\n`),
    'recipes/tiny.yaml',
  );
  assert.deepEqual(recipe, {
    name: 'tiny',
    version: '0.1.0',
    license: 'MIT',
    description: 'Tiny.',
    task: 'image-classification',
    tags: [],
    source: { kind: 'onnx', file: { location: { kind: 'url', url: 'https://example.com/tiny.onnx' }, sha256: SHA } },
    // Not 4-D, so no NCHW guess: one "D" (any) per dim.
    inputs: [{ name: 'x', shape: [1, 16], dynamic: [], layout: 'DD', dtype: 'float32', range: [0, 1] }],
    outputs: [],
    preprocess: { resize: true, channelOrder: 'rgb', scale: 1, mean: [0], std: [1] },
    validation: { samples: '', count: 16, topk: 5, seed: 0 },
    targets: { onnx: ['fp32', 'fp16'], tflite: ['fp32', 'fp16', 'dynamic-int8'], openvino: ['fp32', 'fp16'] },
    skip: {},
    converters: {},
    strategies: {},
    allowOps: {},
    opset: 17,
    tolerances: {},
  });
});

test('pytorch sources: a project file under models/, weights from a package, litert-torch', () => {
  const fromFile = parseOk(
    minimal(
      'pt-file',
      `source:\n  pytorch:\n    factory: ./models/pt-file/model.py:build\n    weights: { package: { pypi: "facenet-pytorch==2.6.0", file: facenet_pytorch/data/onet.pt }, sha256: ${SHA} }\n    kwargs: { width: 0.5 }\n`,
      'converters: { tflite: [litert-torch, onnx2tf], tflite/fp32: litert-torch }\n',
    ),
    'recipes/pt-file.yaml',
  );
  assert.deepEqual(fromFile.source, {
    kind: 'pytorch',
    factory: { file: 'models/pt-file/model.py', function: 'build' },
    kwargs: { width: 0.5 },
    weights: {
      location: {
        kind: 'package',
        registry: 'pypi',
        name: 'facenet-pytorch',
        version: '2.6.0',
        file: 'facenet_pytorch/data/onet.pt',
      },
      sha256: SHA,
    },
  });
  // A list is an order of preference; one name pins that converter.
  assert.deepEqual(fromFile.converters, { tflite: ['litert-torch', 'onnx2tf'], 'tflite/fp32': ['litert-torch'] });
});

test('converters: a pinned converter that cannot make a built precision is reported where it is named', () => {
  const problems = parseRecipeText(
    minimal(
      'pt-pin',
      `source:\n  pytorch:\n    factory: models/pt-pin/model.py:build\n`,
      'converters: { tflite: litert-torch, tflite/fp16: [litert-torch, litert-torch] }\n',
    ),
    'recipes/pt-pin.yaml',
  ).problems.map(formatProblem);
  assert.deepEqual(problems, [
    'recipes/pt-pin.yaml:11:23: converters.tflite: no listed converter makes tflite/dynamic-int8 (litert-torch makes fp32, int8); list one that does (onnx2tf) or skip it with the reason',
    'recipes/pt-pin.yaml:11:50: converters.tflite/fp16: no listed converter makes tflite/fp16 (litert-torch makes fp32, int8); list one that does (onnx2tf) or skip it with the reason',
    'recipes/pt-pin.yaml:11:65: converters.tflite/fp16[1]: litert-torch is listed twice',
  ]);
});

test('package sources: the short form takes the format from the extension; npm pins parse', () => {
  const tflite = parseOk(
    minimal(
      'pkg-tflite',
      `source:\n  package: { npm: "@mediapipe/models@0.10.3", file: models/face.tflite, sha256: ${SHA} }\n`,
    ),
    'recipes/pkg-tflite.yaml',
  );
  assert.deepEqual(tflite.source, {
    kind: 'tflite',
    file: {
      location: {
        kind: 'package',
        registry: 'npm',
        name: '@mediapipe/models',
        version: '0.10.3',
        file: 'models/face.tflite',
      },
      sha256: SHA,
    },
  });
  const onnx = parseOk(
    minimal('pkg-onnx', `source:\n  package: { pypi: "rembg==2.0.50", file: rembg/u2net.onnx, sha256: ${SHA} }\n`),
    'recipes/pkg-onnx.yaml',
  );
  assert.equal(onnx.source.kind, 'onnx');

  const range = parseRecipeText(
    minimal('pkg-range', `source:\n  package: { npm: "x@^1.2.0", file: a.onnx, sha256: ${SHA} }\n`),
    'recipes/pkg-range.yaml',
  );
  assert.deepEqual(range.problems.map(formatProblem), [
    'recipes/pkg-range.yaml:7:19: source.package.npm: expected an exact npm version (name@1.2.3), not a range, received "x@^1.2.0"',
  ]);
});

test('inline replacements, declared dynamic dims and skipped int8 without calibration are accepted', () => {
  const recipe = parseOk(
    minimal(
      'inline',
      `source:\n  tflite: { path: models/inline/m.tflite, sha256: ${SHA} }\n`,
      [
        'replacements:',
        '  format_version: 1',
        '  operations:',
        '    - { op_name: "/Reshape", param_target: inputs, param_name: shape, values: [1, -1], post_process_transpose_perm: [0, 1] }',
        'targets: { tflite: [fp32, int8] }',
        'skip: { tflite/int8: needs real samples first }',
        '',
      ].join('\n'),
    ).replace('shape: [1, 16] }', 'shape: [batch, 16], dynamic: [batch] }'),
    'recipes/inline.yaml',
  );
  assert.deepEqual(recipe.replacements, {
    kind: 'inline',
    value: {
      format_version: 1,
      operations: [
        {
          op_name: '/Reshape',
          param_target: 'inputs',
          param_name: 'shape',
          values: [1, -1],
          post_process_transpose_perm: [0, 1],
        },
      ],
    },
  });
  assert.deepEqual(recipe.inputs[0]?.shape, ['batch', 16]);
  assert.deepEqual(recipe.inputs[0]?.dynamic, ['batch']);
});

test('a wrong field inside inline replacements is reported at that field', () => {
  const text = minimal(
    'bad-inline',
    `source:\n  onnx: { path: m.onnx, sha256: ${SHA} }\n`,
    'replacements:\n  format_version: 1\n  operations:\n    - { op_name: a, param_target: weights, param_name: b }\n',
  );
  assert.deepEqual(parseRecipeText(text, 'recipes/bad-inline.yaml').problems.map(formatProblem), [
    'recipes/bad-inline.yaml:13:35: replacements.operations[0].param_target: expected one of inputs, attributes, outputs, op, received "weights"',
  ]);
});

test('more rules: litert-torch needs pytorch, LicenseRef needs license_file, tolerance keys, dynamic names', () => {
  const text = minimal(
    'rules',
    `source:\n  onnx: { path: m.onnx, sha256: ${SHA} }\n`,
    'converters: { tflite: litert-torch }\ntolerances: { fp-16: { atol: 1 } }\n',
  )
    .replace('license: MIT', 'license: LicenseRef-research-only')
    .replace('shape: [1, 16] }', 'shape: [1, 16], dynamic: [seq] }');
  assert.deepEqual(parseRecipeText(text, 'recipes/rules.yaml').problems.map(formatProblem), [
    'recipes/rules.yaml:3:10: license: LicenseRef-research-only names a license outside the SPDX list; add license_file with its text',
    'recipes/rules.yaml:9:42: inputs[0].dynamic[0]: "seq" is not a dim name in inputs[0].shape',
    'recipes/rules.yaml:10:23: converters.tflite: litert-torch converts PyTorch models only; this recipe has no pytorch source (use onnx2tf)',
    'recipes/rules.yaml:11:15: tolerances: unknown target "fp-16"; expected a precision (fp16) or "format/precision" (tflite/int8); did you mean "fp16"?',
  ]);
});

test('checkRecipes reports two files with the same model name; discoverRecipes finds .yaml and .yml', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'edgezoo-dup-'));
  try {
    mkdirSync(path.join(root, 'recipes'));
    const text = minimal('twin', `source:\n  onnx: { path: models/twin/m.onnx, sha256: ${SHA} }\n`);
    writeFileSync(path.join(root, 'recipes', 'twin.yaml'), text);
    writeFileSync(path.join(root, 'recipes', 'twin.yml'), text);
    writeFileSync(path.join(root, 'recipes', 'notes.txt'), 'not a recipe');
    const files = await discoverRecipes(root);
    assert.deepEqual(
      files.map((file) => path.basename(file)),
      ['twin.yaml', 'twin.yml'],
    );
    const results = await checkRecipes(files, root);
    assert.deepEqual(
      results.flatMap((result) => result.problems.map(formatProblem)),
      ['recipes/twin.yml:1:1: the model name "twin" is already used by recipes/twin.yaml'],
    );
    assert.equal(results[0]?.recipe?.name, 'twin');
    assert.equal(results[1]?.recipe, undefined);
    assert.deepEqual(await discoverRecipes(path.join(root, 'nowhere')), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('requireRecipe throws a typed error carrying every problem', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'edgezoo-require-'));
  try {
    mkdirSync(path.join(root, 'recipes'));
    const file = path.join(root, 'recipes', 'many-problems.yaml');
    copyFileSync(path.join(fixtures, 'invalid/many-problems.yaml'), file);
    await assert.rejects(requireRecipe(file, root), (error: unknown) => {
      assert.ok(isEdgezooRecipeError(error));
      assert.equal(error.code, 'RECIPE_INVALID');
      assert.equal(error.problems.length, 10);
      assert.match(
        error.message,
        /^recipes\/many-problems\.yaml has 10 problems:\nrecipes\/many-problems\.yaml:1:7: name: /,
      );
      return true;
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('SPDX ids and expressions', () => {
  for (const valid of [
    'MIT',
    'Apache-2.0',
    'GPL-3.0-or-later',
    'CC-BY-NC-4.0',
    'MIT OR Apache-2.0',
    '(MIT AND BSD-3-Clause) OR GPL-2.0-only WITH Classpath-exception-2.0',
    'LicenseRef-acme-1',
    'MPL-2.0+',
  ]) {
    assert.equal(checkSpdxExpression(valid), undefined, valid);
  }
  assert.equal(checkSpdxExpression('apache-2.0'), 'unknown SPDX license id "apache-2.0"; did you mean "Apache-2.0"?');
  assert.equal(
    checkSpdxExpression('GPL-3.0'),
    '"GPL-3.0" is a deprecated SPDX id; use "GPL-3.0-only" (or the -or-later form)',
  );
  assert.equal(checkSpdxExpression('GPL-2.0+'), '"GPL-2.0+" is a deprecated SPDX id; use "GPL-2.0-or-later"');
  assert.equal(
    checkSpdxExpression('MIT AND'),
    'the expression ends too early; expected a license id after AND/OR/WITH',
  );
  assert.equal(checkSpdxExpression('(MIT'), 'expected ")" to close "("');
  assert.equal(
    checkSpdxExpression('MIT WITH LLVM-exceptoin'),
    'unknown SPDX exception "LLVM-exceptoin"; did you mean "LLVM-exception"?',
  );
  assert.equal(checkSpdxExpression('MIT Apache-2.0'), 'unexpected "Apache-2.0"; join licenses with AND, OR or WITH');
  assert.equal(checkSpdxExpression(''), 'expected an SPDX license id such as Apache-2.0 or MIT');
});

test('a few aliases to share values are fine', () => {
  const recipe = parseOk(
    minimal(
      'aliases',
      `source:\n  onnx: { path: m.onnx, sha256: ${SHA} }\n`,
      'preprocess:\n  mean: &half [0.5, 0.5, 0.5]\n  std: *half\n',
    ),
    'recipes/aliases.yaml',
  );
  assert.deepEqual(recipe.preprocess.std, [0.5, 0.5, 0.5]);
});

test('suggestions by edit distance', () => {
  assert.equal(editDistance('kitten', 'sitting'), 3);
  // Optimal string alignment: a swap of neighbours is one edit, but no substring is edited twice.
  assert.equal(editDistance('nmae', 'name'), 1);
  assert.equal(editDistance('ab', 'ba'), 1);
  assert.equal(editDistance('ca', 'abc'), 3);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(editDistance('same', 'same'), 0);
  assert.equal(nearest('nmae', ['name', 'version']), 'name');
  assert.equal(nearest('sorce', ['source', 'inputs']), 'source');
  assert.equal(nearest('channelOrder', ['channel_order', 'scale']), 'channel_order');
  assert.equal(nearest('zzzzzz', ['source', 'inputs']), undefined);
});

test('project paths: relative and inside only', () => {
  assert.equal(checkProjectPath('models/x/model.onnx'), undefined);
  assert.equal(checkProjectPath('./models/x/*.npy'), undefined);
  assert.equal(checkProjectPath('models/../../x'), 'the path leaves the project: ".." segments are not allowed');
  assert.equal(
    checkProjectPath('C:/x.onnx'),
    'an absolute path is not allowed; expected a path relative to the project root',
  );
  assert.equal(checkProjectPath('models\\x.onnx'), 'paths use forward slashes; a backslash is not allowed');
  assert.equal(checkProjectPath('~/x.onnx'), '"~" is not expanded; expected a path relative to the project root');
  assert.equal(
    checkProjectPath('file:///etc/passwd'),
    'a URL is not a path (use `url:` for downloads); expected a path relative to the project root',
  );
  assert.equal(globBase('./models/x/calib/**/*.npy'), 'models/x/calib');
});

test('the example fixture text keeps its schema comment for editors', () => {
  assert.match(
    readFileSync(path.join(fixtures, 'valid/mobilenet-v2.yaml'), 'utf8'),
    /^# yaml-language-server: \$schema=/,
  );
});

test('constant and scalar inputs: value in the shape and dtype, fixed dims, not for PyTorch sources', () => {
  const onnx = `source:\n  onnx: { path: m.onnx, sha256: ${SHA} }\n`;
  const ok = minimal('consts', onnx).replace(
    '  - { name: x, shape: [1, 16] }\n',
    '  - { name: x, shape: [1, 16] }\n  - { name: sr, dtype: int64, shape: [], value: 16000 }\n  - { name: flag, dtype: bool, shape: [2], value: [true, false] }\n',
  );
  const recipe = parseOk(ok, 'recipes/consts.yaml');
  assert.deepEqual(recipe.inputs[1], {
    name: 'sr',
    shape: [],
    dynamic: [],
    layout: '',
    dtype: 'int64',
    range: [0, 1],
    value: 16000,
  });
  assert.deepEqual(recipe.inputs[2]!.value, [true, false]);

  const bad = minimal('consts', onnx).replace(
    '  - { name: x, shape: [1, 16] }\n',
    '  - { name: x, shape: [1, 16] }\n  - { name: sr, dtype: int64, shape: [], value: 16000.5 }\n  - { name: m, shape: [2, 2], value: [[1, 2], [3]] }\n  - { name: s, shape: [], value: [1] }\n',
  );
  assert.deepEqual(parseRecipeText(bad, 'recipes/consts.yaml').problems.map(formatProblem), [
    'recipes/consts.yaml:10:49: inputs[1].value: expected a whole number (dtype int64), received 16000.5',
    'recipes/consts.yaml:11:38: inputs[2].value: expected 2 item(s) for shape [2], received a list of 1',
    'recipes/consts.yaml:12:34: inputs[3].value: expected a single value for shape [] (a scalar), received a list',
  ]);

  const torch = minimal('consts', 'source:\n  pytorch: { factory: m.py:build }\n').replace(
    '  - { name: x, shape: [1, 16] }\n',
    '  - { name: x, shape: [1, 16] }\n  - { name: sr, dtype: int64, shape: [], value: 16000 }\n',
  );
  assert.match(
    parseRecipeText(torch, 'recipes/consts.yaml').problems.map(formatProblem).join('\n'),
    /inputs\[1\]\.value: a constant input \(value:\) is folded into the ONNX graph by prepare; PyTorch sources/,
  );
});

test("validation.stream: fed-back outputs and inputs must be the recipe's, each input fed once", () => {
  const source = `source:\n  onnx: { path: m.onnx, sha256: ${SHA} }\n`;
  const good = minimal(
    'streamed',
    source,
    'outputs: [{ name: y }, { name: stateN }]\nvalidation: { count: 8, stream: { feedback: { stateN: x }, chunks: 4 } }\n',
  );
  assert.deepEqual(parseOk(good, 'recipes/streamed.yaml').validation, {
    samples: '',
    count: 8,
    topk: 5,
    seed: 0,
    stream: { feedback: { stateN: 'x' }, chunks: 4 },
  });
  const bad = minimal(
    'streamed',
    source,
    'outputs: [{ name: y }, { name: stateN }]\nvalidation: { stream: { feedback: { staten: x, y: h }, chunks: 1 } }\n',
  );
  assert.deepEqual(parseRecipeText(bad, 'recipes/streamed.yaml').problems.map(formatProblem), [
    'recipes/streamed.yaml:11:37: validation.stream.feedback: "staten" is not an output of the recipe (outputs: y, stateN); did you mean "stateN"?',
    'recipes/streamed.yaml:11:51: validation.stream.feedback.y: "h" is not an input of the recipe (inputs: x); did you mean "x"?',
    'recipes/streamed.yaml:11:64: validation.stream.chunks: expected a number >= 2, received the number 1',
  ]);
});
