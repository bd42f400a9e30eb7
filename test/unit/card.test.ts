/**
 * The model card: Hugging Face front matter (known keys, real pipeline tags), the compact table,
 * and code generated per input kind from the artifacts' inputs and outputs. Running that code
 * against real artifacts is test/integration/card-snippets.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { load } from 'js-yaml';
import { discoverRecipes, checkRecipes } from '../../src/recipe/index.js';
import {
  HF_PIPELINE_TAGS,
  artifactIo,
  huggingFacePipelineTag,
  parseManifest,
  pythonSnippet,
  javascriptSnippet,
  writeModelVersion,
  renderModelCard,
} from '../../src/zoo/index.js';
import { type sampleRecipe, sampleVersionInput } from '../fixtures/sample-zoo.js';
import { keptFloat } from '../../src/zoo/card.js';

const repo = path.resolve(import.meta.dirname, '..', '..');
let root: string;
before(async () => (root = await mkdtemp(path.join(tmpdir(), 'edgezoo-card-'))));
after(() => rm(root, { recursive: true, force: true }));

/** Front matter keys of the Hugging Face model card metadata spec that edgezoo writes. */
const HF_CARD_KEYS = new Set(['license', 'license_name', 'license_link', 'library_name', 'pipeline_tag', 'tags']);

async function card(name: string, overrides: Parameters<typeof sampleRecipe>[2], labels?: string[]) {
  const input = await sampleVersionInput(
    path.join(root, `${name}-work`),
    name,
    '1.0.0',
    [
      { format: 'onnx', precision: 'fp32' },
      { format: 'tflite', precision: 'int8' },
    ],
    { recipe: overrides },
  );
  const { dir } = await writeModelVersion(path.join(root, 'zoo'), { ...input, ...(labels ? { labels } : {}) });
  const text = await readFile(path.join(dir, 'README.md'), 'utf8');
  const manifest = parseManifest(await readFile(path.join(dir, 'manifest.json'), 'utf8'), 'manifest.json');
  return { text, manifest, front: load(/^---\n([\s\S]*?)\n---\n/.exec(text)![1]!) as Record<string, unknown> };
}

test('every task of the default zoo gets a real Hugging Face pipeline tag, or none', async () => {
  const results = await checkRecipes(await discoverRecipes(repo), repo);
  const tags = results.map((r) => {
    const recipe = r.recipe!;
    return [recipe.task, huggingFacePipelineTag(recipe.task, recipe.tags.includes('audio'))];
  });
  for (const [, tag] of tags) assert.ok(tag === undefined || HF_PIPELINE_TAGS.has(tag), `${tag}`);
  assert.deepEqual(Object.fromEntries(tags), {
    'face-detection': 'object-detection',
    'face-landmarks': 'keypoint-detection',
    'image-classification': 'image-classification',
    'text-detection': 'object-detection',
    'voice-activity-detection': 'voice-activity-detection',
  });
  assert.equal(huggingFacePipelineTag('frobnication', false), undefined);
});

test('front matter has only keys Hugging Face reads; the table, pull command and labels are on the card', async () => {
  const { text, front } = await card('labelled-net', {}, ['cat', 'dog', 'bird']);
  assert.deepEqual(
    Object.keys(front).filter((k) => !HF_CARD_KEYS.has(k)),
    [],
  );
  assert.equal(front.pipeline_tag, 'image-classification');
  assert.match(text, /^\| format \| precision \| size \| latency \| vs source \| speed-up \| kept float \|$/m);
  // The benchmark of each artifact: runtime with its version, load, median, p90, peak memory.
  assert.match(text, /^\| format \| precision \| runtime \| load \| median \| p90 \| peak memory \|$/m);
  assert.match(
    text,
    /^\| onnx \| fp32 \| onnxruntime-node 1\.30\.0 \| 12\.5 ms \| 1\.75 ms \| 2\.25 ms \| 64\.0 MiB \|$/m,
  );
  assert.match(text, /^python3 pull\.py labelled-net@1\.0\.0 --format onnx --precision fp32 /m);
  assert.match(
    text,
    /^edgezoo pull labelled-net@1\.0\.0 --format onnx --precision fp32 --index URL-OF-THE-ZOO\/index\.json$/m,
  );
  assert.match(text, /^Labels \(3, index: name\): 0: cat, 1: dog, 2: bird\.$/m);
  assert.match(text, /^LABELS = \["cat","dog","bird"\]$/m);
  assert.match(text, /^### Python: onnxruntime$/m);
  assert.match(text, /^### Python: LiteRT \(ai-edge-litert\)$/m);
  assert.match(text, /^### JavaScript: onnxruntime-node$/m);
  // The LiteRT code feeds the artifact's own NHWC layout; the ONNX code its NCHW one.
  assert.match(text, /^ {4}"input": load_image\(INPUT_FILE, 8, 8, 3\)\[np\.newaxis\], {2}# NHWC \[1, 8, 8, 3\]$/m);
  assert.match(
    text,
    /^ {4}"input": load_image\(INPUT_FILE, 8, 8, 3\)\.transpose\(2, 0, 1\)\[np\.newaxis\], {2}# NCHW \[1, 3, 8, 8\]$/m,
  );
});

test('an audio model gets WAV reading for its audio input and zeros for its state, no image code', async () => {
  const { manifest, front, text } = await card('vad-net', {
    task: 'voice-activity-detection',
    tags: ['audio'],
    inputs: [
      { name: 'input', shape: [1, 576], dynamic: [], layout: 'NL', dtype: 'float32', range: [-1, 1] },
      { name: 'state', shape: [2, 1, 128], dynamic: [], layout: 'DND', dtype: 'float32', range: [-32, 32] },
    ],
    outputs: [{ name: 'logits', classifier: false }],
    preprocess: { resize: true, channelOrder: 'rgb', scale: 1, mean: [0], std: [1] },
    validation: { samples: '', count: 16, topk: 5, seed: 0, stream: { feedback: { logits: 'state' }, chunks: 2 } },
  });
  assert.equal(front.pipeline_tag, 'voice-activity-detection');
  // Validated on chained steps: the manifest and the card say how the state goes around.
  assert.deepEqual(manifest.stream, { feedback: { logits: 'state' }, chunks: 2 });
  assert.match(
    text,
    /validation samples, chained as 2 streams of 2 steps with `logits` fed back as `state` at each step \(how an app runs it too\)\./,
  );
  // The sample artifacts have one input; give the ONNX one the model's two, as a real export has.
  const artifact = {
    ...manifest.artifacts[0]!,
    signature: {
      inputs: [
        { name: 'input', dtype: 'float32', shape: [1, 576] },
        { name: 'state', dtype: 'float32', shape: [2, 1, 128] },
      ],
      outputs: manifest.artifacts[0]!.signature.outputs,
    },
  };
  const io = artifactIo(manifest, artifact);
  assert.deepEqual(
    io.inputs.map((i) => i.kind),
    ['audio', 'tensor'],
  );
  const python = pythonSnippet(io, 'onnxruntime', { model: 'm.onnx', manifest: 'm.json' });
  assert.match(python, /^ {4}"input": load_audio\(INPUT_FILE, 576\)\.reshape\(\[1, 576\]\),$/m);
  assert.match(python, /^ {4}"state": np\.zeros\(\[2, 1, 128\], dtype=np\.float32\),$/m);
  assert.doesNotMatch(python, /PIL|load_image/);
  const js = javascriptSnippet(io, { model: 'm.onnx', manifest: 'm.json' });
  assert.match(js, /"input": new ort\.Tensor\('float32', loadAudio\(INPUT_FILE, 576\), \[1, 576\]\),/);
  assert.match(js, /"state": new ort\.Tensor\('float32', new Float32Array\(256\), \[2, 1, 128\]\),/);
});

test('an input whose preprocessing does not start from pixels is a tensor, not an image', async () => {
  const { manifest } = await card('npy-net', {
    preprocess: { resize: true, channelOrder: 'rgb', scale: 1, mean: [0], std: [1] },
    inputs: [{ name: 'input', shape: [1, 3, 8, 8], dynamic: [], layout: 'NCHW', dtype: 'float32', range: [0, 1] }],
  });
  assert.deepEqual(
    artifactIo(manifest, manifest.artifacts[0]!).inputs.map((i) => i.kind),
    ['tensor'],
  );
});

test('the compact table says what the quantization search kept float, and marks an int8 slower than fp32', async () => {
  const { manifest } = await card('quantised-net', {});
  const int8 = manifest.artifacts.find((a) => a.format === 'tflite' && a.precision === 'int8')!;
  const fp32 = {
    ...int8,
    precision: 'fp32' as const,
    quantization: undefined,
    benchmark: { ...int8.benchmark!, medianMs: 1 },
  };
  const searched = {
    ...int8,
    benchmark: { ...int8.benchmark!, medianMs: 2 },
    quantization: {
      strategy: 'quant-keep-float-5',
      activations: 'int8' as const,
      keptFloat: ['a', 'b', 'c', 'd', 'e'],
      keptFloatOps: [],
      opTypes: null,
      floatFallback: null,
      layers: 120,
    },
  };
  const text = renderModelCard({ ...manifest, artifacts: [manifest.artifacts[0]!, fp32, searched] });
  assert.match(text, /^\| tflite \| int8 \| .* \| 0\.50x \(slower than fp32\) \| 5 of 120 layers \|$/m);
  assert.match(text, /^\| tflite \| fp32 \| .* \| 1\.00x \| - \|$/m);
  assert.match(text, /an integer artifact slower than fp32 is marked/);
  assert.equal(
    keptFloat({ ...searched, quantization: { ...searched.quantization, keptFloat: [], opTypes: ['Conv'] } }),
    'all but Conv',
  );
  assert.equal(keptFloat({ ...searched, quantization: { ...searched.quantization, keptFloat: [] } }), 'none');
  assert.equal(
    keptFloat({
      ...searched,
      quantization: { ...searched.quantization, keptFloat: [], int16Tensors: ['t1', 't2'] },
    }),
    'none; 2 activations 16-bit',
  );
});

test('the card says how each artifact was converted: the winner, what failed before it, and one pin block', async () => {
  const { manifest } = await card('cascaded-net', {});
  const [onnx, tflite] = manifest.artifacts;
  const fp16 = {
    ...tflite!,
    precision: 'fp16' as const,
    quantization: undefined,
    conversion: {
      converter: 'onnx2tf',
      strategy: 'default',
      failedAttempts: [
        { converter: 'litert-torch', strategy: 'default', stage: 'numbers' as const, reason: 'cosine 0.2 < 0.999' },
      ],
      pin: ['converters: { tflite/fp16: onnx2tf }', 'strategies: { tflite/fp16: [default] }'],
    },
  };
  const int8 = {
    ...tflite!,
    conversion: {
      converter: 'onnx2tf',
      strategy: 'quant-keep-float-2',
      failedAttempts: [{ converter: 'onnx2tf', strategy: 'quant-full', stage: 'numbers' as const }],
      pin: ['quantization:', '  tflite/int8: { keep_float: [a, b] }'],
    },
  };
  const plain = { ...onnx!, conversion: { converter: 'onnxruntime', strategy: 'default', failedAttempts: [] } };
  const text = renderModelCard({ ...manifest, artifacts: [plain, fp16, int8] });
  assert.match(text, /^\| onnx\/fp32 \| onnxruntime \| default \| - \|$/m);
  assert.match(
    text,
    /^\| tflite\/fp16 \| onnx2tf \| default \| litert-torch default \(numbers\): cosine 0\.2 < 0\.999 \|$/m,
  );
  assert.match(text, /^\| tflite\/int8 \| onnx2tf \| quant-keep-float-2 \| onnx2tf quant-full \(numbers\) \|$/m);
  const pin = /Recipe lines that pin[^\n]*\n\n```yaml\n([\s\S]*?)```/.exec(text)?.[1];
  assert.equal(
    pin,
    'converters:\n  tflite/fp16: onnx2tf\nstrategies:\n  tflite/fp16: [default]\nquantization:\n  tflite/int8: { keep_float: [a, b] }\n',
  );
  // The block is YAML a recipe takes as it is.
  assert.deepEqual(load(pin!), {
    converters: { 'tflite/fp16': 'onnx2tf' },
    strategies: { 'tflite/fp16': ['default'] },
    quantization: { 'tflite/int8': { keep_float: ['a', 'b'] } },
  });
  // A manifest written before conversions were recorded has no section.
  assert.doesNotMatch(renderModelCard(manifest), /How each artifact was converted/);
});
