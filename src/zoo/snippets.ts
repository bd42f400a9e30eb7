/**
 * Runnable code for the model card: Python for onnxruntime, LiteRT and OpenVINO, JavaScript for
 * onnxruntime-node, each generated from an artifact's I/O (`artifactIo`): its tensor names,
 * shapes and layout, the preprocessing per input kind (image, audio, tensor), quantised inputs
 * and outputs, and the labels of a classifier output. Each snippet ends with `outputs`, a dict
 * (object in JavaScript) from output name to a float array, and prints it.
 */
import type { ArtifactIo, IoInput } from './io-contract.js';
import { hasPreprocess } from './io-contract.js';

export type PythonRuntime = 'onnxruntime' | 'litert' | 'openvino';

/** Files a snippet names: the model, and the pulled manifest (which holds long label lists). */
export interface SnippetFiles {
  model: string;
  manifest: string;
}

/** Labels up to this many are written into the code; longer lists are read from the manifest. */
const INLINE_LABELS = 20;

const NUMPY_DTYPE: Record<string, string> = {
  float32: 'np.float32',
  float16: 'np.float16',
  int64: 'np.int64',
  int32: 'np.int32',
  int16: 'np.int16',
  int8: 'np.int8',
  uint8: 'np.uint8',
  bool: 'np.bool_',
};

function numbers(values: readonly number[]): string {
  return `[${values.map((v) => String(v)).join(', ')}]`;
}

function pyString(text: string): string {
  return JSON.stringify(text);
}

/** Fixed dims of a shape, 1 for a named (dynamic) one. */
function fixedShape(shape: ReadonlyArray<number | string>): number[] {
  return shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
}

/** `x` (H x W x C) arranged as `layout` (NCHW, NHWC, CHW, HWC), as numpy code. */
function pyArrange(layout: string): string {
  const batch = layout.startsWith('N');
  const rest = batch ? layout.slice(1) : layout;
  const permuted = rest === 'HWC' ? '' : `.transpose(${[...rest].map((letter) => 'HWC'.indexOf(letter)).join(', ')})`;
  return `${permuted}${batch ? '[np.newaxis]' : ''}`;
}

/** Which file feeds an input: a constant per input the caller sets. */
function fileConstant(input: IoInput): string {
  return `${
    input.sourceName
      .replace(/[^A-Za-z0-9]+/g, '_')
      .replace(/^_|_$/g, '')
      .toUpperCase() || 'INPUT'
  }_FILE`;
}

function usesImages(io: ArtifactIo): boolean {
  return io.inputs.some((i) => i.kind === 'image');
}

function usesAudio(io: ArtifactIo): boolean {
  return io.inputs.some((i) => i.kind === 'audio');
}

/** Python that defines the feed of every input: a dict `feeds` from artifact tensor name to a numpy array. */
function pythonFeeds(io: ArtifactIo): string[] {
  const lines: string[] = [];
  const p = io.preprocess;
  const preprocess = hasPreprocess(io);
  if (usesImages(io)) {
    lines.push(
      'def load_image(path, width, height, channels):',
      `    """An image file as float32 height x width x channels, preprocessed as the model expects."""`,
      '    image = Image.open(path).convert("L" if channels == 1 else "RGB")',
      p.resize
        ? '    image = image.resize((width, height))'
        : '    assert image.size == (width, height), f"the model takes {width}x{height} images"',
      '    x = np.asarray(image, dtype=np.float32).reshape(height, width, channels)',
    );
    if (p.channelOrder === 'bgr') lines.push('    x = x[..., ::-1]  # the model takes BGR');
    if (preprocess)
      lines.push(
        `    return (x${p.scale === 1 ? '' : ` * ${p.scale}`} - np.array(${numbers(p.mean)}, dtype=np.float32)) / np.array(${numbers(p.std)}, dtype=np.float32)`,
      );
    else lines.push('    return x');
    lines.push('');
  }
  if (usesAudio(io)) {
    lines.push(
      'def load_audio(path, samples):',
      `    """A mono 16-bit PCM WAV file (at the model's sample rate) as float32 in [-1, 1], cut or zero-padded to \`samples\`."""`,
      '    with wave.open(path) as f:',
      '        pcm = np.frombuffer(f.readframes(samples), dtype=np.int16)',
      '    x = np.zeros(samples, dtype=np.float32)',
      '    x[: len(pcm)] = pcm / 32768.0',
      preprocess ? `    return (x * ${p.scale} - ${p.mean[0] ?? 0}) / ${p.std[0] ?? 1}` : '    return x',
      '',
    );
  }
  lines.push('feeds = {');
  for (const input of io.inputs) {
    const shape = fixedShape(input.shape);
    const cast =
      input.dtype === 'float32' || input.quantization ? '' : `.astype(${NUMPY_DTYPE[input.dtype] ?? 'np.float32'})`;
    if (input.kind === 'image' && input.image) {
      const { width, height, channels } = input.image;
      lines.push(
        `    ${pyString(input.name)}: load_image(${fileConstant(input)}, ${width}, ${height}, ${channels})${pyArrange(input.layout)}${cast},  # ${input.layout} [${shape.join(', ')}]`,
      );
    } else if (input.kind === 'audio' && input.audio) {
      lines.push(
        `    ${pyString(input.name)}: load_audio(${fileConstant(input)}, ${input.audio.samples}).reshape(${numbers(shape)})${cast},`,
      );
    } else {
      lines.push(
        `    # ${input.sourceName}: your data, ${input.dtype} [${shape.join(', ')}]${input.layout ? ` ${input.layout}` : ''}, values in [${input.range.join(', ')}]`,
        `    ${pyString(input.name)}: np.zeros(${numbers(shape)}, dtype=${input.quantization ? 'np.float32' : (NUMPY_DTYPE[input.dtype] ?? 'np.float32')}),`,
      );
    }
  }
  lines.push('}');
  return lines;
}

/** Python that prints `outputs` and, for a classifier output, its top classes. */
function pythonReport(io: ArtifactIo, files: SnippetFiles): string[] {
  const lines = ['for name, value in outputs.items():', '    print(name, value.shape)'];
  const classifier = io.outputs.find((o) => o.classifier);
  if (!classifier) return lines;
  const k = Math.min(5, io.labels?.length ?? 5);
  if (io.labels && io.labels.length <= INLINE_LABELS) lines.push(`LABELS = ${JSON.stringify(io.labels)}`);
  else if (io.labels)
    lines.push(`LABELS = json.load(open(${pyString(files.manifest)}))["labels"]  # ${io.labels.length} class names`);
  lines.push(
    `scores = outputs[${pyString(classifier.name)}].reshape(-1)`,
    `for i in np.argsort(scores)[::-1][:${k}]:`,
    io.labels ? '    print(f"{LABELS[i]}: {scores[i]:.4f}")' : '    print(f"class {i}: {scores[i]:.4f}")',
  );
  return lines;
}

function pythonHeader(io: ArtifactIo, runtime: PythonRuntime, files: SnippetFiles): string[] {
  const packages = { onnxruntime: 'onnxruntime', litert: 'ai-edge-litert', openvino: 'openvino' }[runtime];
  const lines = [
    `# pip install ${packages} numpy${usesImages(io) ? ' pillow' : ''}`,
    ...(io.labels && io.labels.length > INLINE_LABELS ? ['import json', ''] : []),
  ];
  if (usesAudio(io)) lines.push('import wave');
  lines.push('import numpy as np');
  if (runtime === 'onnxruntime') lines.push('import onnxruntime as ort');
  if (runtime === 'litert') lines.push('from ai_edge_litert.interpreter import Interpreter');
  if (runtime === 'openvino') lines.push('import openvino as ov');
  if (usesImages(io)) lines.push('from PIL import Image');
  lines.push('', `MODEL = ${pyString(files.model)}`);
  for (const input of io.inputs) {
    if (input.kind === 'image' && input.image)
      lines.push(
        `${fileConstant(input)} = "image.jpg"  # any image; it becomes ${input.image.width}x${input.image.height}`,
      );
    if (input.kind === 'audio')
      lines.push(`${fileConstant(input)} = "audio.wav"  # mono 16-bit PCM at the model's sample rate`);
  }
  lines.push('');
  return lines;
}

/** A runnable Python program for `runtime` over the artifact in `files.model`. */
export function pythonSnippet(io: ArtifactIo, runtime: PythonRuntime, files: SnippetFiles): string {
  const lines = [...pythonHeader(io, runtime, files), ...pythonFeeds(io), ''];
  if (runtime === 'onnxruntime') {
    lines.push(
      'session = ort.InferenceSession(MODEL)',
      'names = [o.name for o in session.get_outputs()]',
      'outputs = dict(zip(names, session.run(None, feeds)))',
    );
  } else if (runtime === 'litert') {
    lines.push(
      'interpreter = Interpreter(model_path=MODEL)',
      'interpreter.allocate_tensors()',
      '',
      'def quantize(x, detail):',
      '    """Float values to what a quantised (int8/int16) input takes; float inputs pass through."""',
      '    scale, zero_point = detail["quantization"]',
      '    if scale == 0:',
      '        return x.astype(detail["dtype"])',
      '    limits = np.iinfo(detail["dtype"])',
      '    return np.clip(np.round(x / scale + zero_point), limits.min, limits.max).astype(detail["dtype"])',
      '',
      'def dequantize(y, detail):',
      '    scale, zero_point = detail["quantization"]',
      '    return y.astype(np.float32) if scale == 0 else (y.astype(np.float32) - zero_point) * scale',
      '',
      'details = {d["name"]: d for d in interpreter.get_input_details()}',
      'for name, x in feeds.items():',
      '    interpreter.set_tensor(details[name]["index"], quantize(x, details[name]))',
      'interpreter.invoke()',
      'outputs = {d["name"]: dequantize(interpreter.get_tensor(d["index"]), d) for d in interpreter.get_output_details()}',
    );
  } else {
    lines.push(
      '# f32: the precision it was validated in (some CPUs would otherwise run it in bf16)',
      'compiled = ov.Core().compile_model(MODEL, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})',
      'result = compiled(feeds)',
      'outputs = {o.get_any_name(): result[o] for o in compiled.outputs}',
    );
  }
  lines.push('', ...pythonReport(io, files));
  return `${lines.join('\n')}\n`;
}

const JS_ARRAY: Record<string, [string, string]> = {
  float32: ['float32', 'Float32Array'],
  int64: ['int64', 'BigInt64Array'],
  int32: ['int32', 'Int32Array'],
  int8: ['int8', 'Int8Array'],
  uint8: ['uint8', 'Uint8Array'],
  bool: ['bool', 'Uint8Array'],
};

/** A runnable Node program for onnxruntime-node over the ONNX artifact in `files.model`. */
export function javascriptSnippet(io: ArtifactIo, files: SnippetFiles): string {
  const p = io.preprocess;
  const lines = [
    `// npm install onnxruntime-node${usesImages(io) ? ' sharp' : ''}`,
    ...(usesAudio(io) || (io.labels && io.labels.length > INLINE_LABELS)
      ? ["import { readFileSync } from 'node:fs';"]
      : []),
    "import * as ort from 'onnxruntime-node';",
    ...(usesImages(io) ? ["import sharp from 'sharp';"] : []),
    '',
    `const MODEL = ${JSON.stringify(files.model)};`,
  ];
  for (const input of io.inputs) {
    if (input.kind === 'image' && input.image)
      lines.push(
        `const ${fileConstant(input)} = 'image.jpg'; // any image; it becomes ${input.image.width}x${input.image.height}`,
      );
    if (input.kind === 'audio')
      lines.push(`const ${fileConstant(input)} = 'audio.wav'; // mono 16-bit PCM at the model's sample rate`);
  }
  lines.push('');
  if (usesImages(io)) {
    const scale = hasPreprocess(io) ? `${p.scale}` : '1';
    lines.push(
      '/** An image file as a float32 tensor in the given layout, preprocessed as the model expects. */',
      'async function loadImage(file, width, height, channels, layout) {',
      '  let image = sharp(file).removeAlpha();',
      '  if (channels === 1) image = image.greyscale();',
      p.resize ? "  image = image.resize(width, height, { fit: 'fill' });" : '',
      '  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });',
      "  if (info.width !== width || info.height !== height) throw new Error('the model takes ' + width + 'x' + height + ' images');",
      `  const mean = ${numbers(p.mean)};`,
      `  const std = ${numbers(p.std)};`,
      '  const x = new Float32Array(channels * height * width);',
      '  for (let y = 0; y < height; y++)',
      '    for (let i = 0; i < width; i++)',
      '      for (let c = 0; c < channels; c++) {',
      `        const value = data[(y * width + i) * info.channels + ${p.channelOrder === 'bgr' ? 'channels - 1 - c' : 'c'}];`,
      "        const at = layout.endsWith('CHW') ? (c * height + y) * width + i : (y * width + i) * channels + c;",
      `        x[at] = (value${scale === '1' ? '' : ` * ${scale}`} - mean[mean.length === 1 ? 0 : c]) / std[std.length === 1 ? 0 : c];`,
      '      }',
      '  return x;',
      '}',
      '',
    );
  }
  if (usesAudio(io)) {
    lines.push(
      '/** A mono 16-bit PCM WAV file as float32 in [-1, 1], cut or zero-padded to `samples`. */',
      'function loadAudio(file, samples) {',
      '  const bytes = readFileSync(file);',
      '  let at = 12;',
      "  while (bytes.toString('ascii', at, at + 4) !== 'data') at += 8 + bytes.readUInt32LE(at + 4);",
      '  const pcm = bytes.subarray(at + 8, at + 8 + bytes.readUInt32LE(at + 4));',
      '  const x = new Float32Array(samples);',
      '  for (let i = 0; i < Math.min(samples, pcm.length >> 1); i++) x[i] = pcm.readInt16LE(2 * i) / 32768;',
      '  return x;',
      '}',
      '',
    );
  }
  lines.push('const feeds = {');
  for (const input of io.inputs) {
    const shape = fixedShape(input.shape);
    const size = shape.reduce((a, b) => a * b, 1);
    if (input.kind === 'image' && input.image) {
      const { width, height, channels } = input.image;
      lines.push(
        `  ${JSON.stringify(input.name)}: new ort.Tensor('float32', await loadImage(${fileConstant(input)}, ${width}, ${height}, ${channels}, '${input.layout}'), ${numbers(shape)}),`,
      );
    } else if (input.kind === 'audio' && input.audio) {
      lines.push(
        `  ${JSON.stringify(input.name)}: new ort.Tensor('float32', loadAudio(${fileConstant(input)}, ${input.audio.samples}), ${numbers(shape)}),`,
      );
    } else {
      const [type, array] = JS_ARRAY[input.dtype] ?? JS_ARRAY.float32!;
      lines.push(
        `  // ${input.sourceName}: your data, ${input.dtype} [${shape.join(', ')}]${input.layout ? ` ${input.layout}` : ''}, values in [${input.range.join(', ')}]`,
        `  ${JSON.stringify(input.name)}: new ort.Tensor('${type}', new ${array}(${size}), ${numbers(shape)}),`,
      );
    }
  }
  lines.push(
    '};',
    '',
    'const session = await ort.InferenceSession.create(MODEL);',
    'const results = await session.run(feeds);',
    'const outputs = Object.fromEntries(Object.entries(results).map(([name, tensor]) => [name, tensor.data]));',
    'for (const [name, tensor] of Object.entries(results)) console.log(name, tensor.dims);',
  );
  const classifier = io.outputs.find((o) => o.classifier);
  if (classifier) {
    const k = Math.min(5, io.labels?.length ?? 5);
    if (io.labels && io.labels.length <= INLINE_LABELS) lines.push(`const LABELS = ${JSON.stringify(io.labels)};`);
    else if (io.labels)
      lines.push(`const LABELS = JSON.parse(readFileSync(${JSON.stringify(files.manifest)}, 'utf8')).labels;`);
    lines.push(
      `const scores = Array.from(outputs[${JSON.stringify(classifier.name)}]);`,
      `for (const i of [...scores.keys()].sort((a, b) => scores[b] - scores[a]).slice(0, ${k}))`,
      io.labels
        ? "  console.log(LABELS[i] + ': ' + scores[i].toFixed(4));"
        : "  console.log('class ' + i + ': ' + scores[i].toFixed(4));",
    );
  }
  return `${lines.filter((line, i, all) => line !== '' || all[i - 1] !== '').join('\n')}\n`;
}
