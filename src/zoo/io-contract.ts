/**
 * How to feed one artifact and read its outputs, from its manifest: every input's tensor name,
 * dtype, shape and layout in the artifact, which recipe input it is, what kind of data it takes
 * (an image, audio, or a plain tensor) and the preprocessing, and every output. The model card's
 * code is generated from this one function, so a richer per-artifact contract (source names,
 * permutations) changes the cards and their snippets in one place.
 */
import { channelsOf, isIdentityPreprocess, pixelRange, rangeMatchesPixels } from '../recipe/pixel-range.js';
import type { Manifest, ManifestArtifact, TensorSignature } from './types.js';

/** What an input is fed from: an image file, an audio file, or an array the caller makes. */
export type InputKind = 'image' | 'audio' | 'tensor';

export interface IoInput {
  /** The tensor name the artifact's runtime takes. */
  name: string;
  /** The recipe input it is. */
  sourceName: string;
  dtype: string;
  shape: Array<number | string>;
  /** The artifact's axis letters (NHWC for most TFLite images), else the recipe's. */
  layout: string;
  /** Axis i of this input is axis perm[i] of the recipe input's (absent: same axes). */
  perm?: number[];
  quantization?: TensorSignature['quantization'];
  kind: InputKind;
  /** Values after preprocessing, as the recipe declares them. */
  range: [number, number];
  /** Images: the size the model takes and how pixels become values. */
  image?: { height: number; width: number; channels: number };
  /** Audio: samples per call. */
  audio?: { samples: number };
}

export interface IoOutput {
  name: string;
  /** The source model's output it is (converters rename outputs: `PartitionedCall:2`). */
  sourceName: string;
  /** Axis i of this output is axis perm[i] of the source's (absent: same axes). */
  perm?: number[];
  dtype: string;
  shape: Array<number | string>;
  layout?: string;
  quantization?: TensorSignature['quantization'];
  /** Holds class scores (the recipe marks it `classifier`). */
  classifier: boolean;
}

export interface ArtifactIo {
  inputs: IoInput[];
  outputs: IoOutput[];
  preprocess: Manifest['preprocess'];
  labels?: string[];
}

type ManifestInput = Manifest['inputs'][number];

const AUDIO_TASK = /audio|speech|voice|sound|speaker|keyword/;

/**
 * The kind of a recipe input. An image: channels-first or -last spatial axes with 1 or 3
 * channels and a range that the preprocessing makes of 8-bit pixels (the rule `check` enforces;
 * a recipe whose preprocessing does not start from pixels gets a plain tensor). Audio: a
 * sequence axis (L) in a model tagged or tasked as audio. Anything else: a tensor.
 */
export function inputKind(input: ManifestInput, manifest: Pick<Manifest, 'preprocess' | 'tags' | 'task'>): InputKind {
  const layout = input.layout;
  const spatial = ['H', 'W', 'C'].every((axis) => layout.includes(axis));
  if (spatial && input.shape.length === layout.length && /^(float32|float16)$/.test(input.dtype)) {
    const channels = channelsOf(input.shape, layout);
    if (
      (channels === 1 || channels === 3) &&
      rangeMatchesPixels(input.range, pixelRange(manifest.preprocess, channels))
    )
      return 'image';
  }
  const audioModel = manifest.tags.includes('audio') || AUDIO_TASK.test(manifest.task);
  if (audioModel && layout.includes('L') && /^float/.test(input.dtype)) return 'audio';
  return 'tensor';
}

/** `serving_default_input:0` and `input` are the same tensor to a person; compare without the decorations runtimes add. */
function plainName(name: string): string {
  return name
    .replace(/^serving_default_/, '')
    .replace(/:\d+$/, '')
    .replace(/[^A-Za-z0-9]/g, '')
    .toLowerCase();
}

function elements(shape: ReadonlyArray<number | string>): number | undefined {
  return shape.every((d) => typeof d === 'number') ? (shape as number[]).reduce((a, b) => a * b, 1) : undefined;
}

/**
 * The recipe tensor an artifact tensor is: by name, by name without decorations, else by its
 * element count when exactly one tensor of `named` (an artifact that kept the source names)
 * has it. Converters rename and reorder outputs (onnx2tf's PartitionedCall:0..n come in any
 * order), so position is no evidence.
 */
function match<T extends { name: string }>(
  tensor: TensorSignature,
  candidates: readonly T[],
  named: readonly TensorSignature[],
): T | undefined {
  const byName =
    (tensor.source !== undefined ? candidates.find((c) => c.name === tensor.source) : undefined) ??
    candidates.find((c) => c.name === tensor.name) ??
    candidates.find((c) => plainName(c.name) === plainName(tensor.name));
  if (byName) return byName;
  const count = elements(tensor.shape);
  const same = named.filter((n) => count !== undefined && elements(n.shape) === count);
  return same.length === 1 ? candidates.find((c) => c.name === same[0]!.name) : undefined;
}

/** Tensors of an artifact that kept the recipe's names (ONNX and OpenVINO usually do), for matching by shape. */
function namedTensors(manifest: Manifest, kind: 'inputs' | 'outputs'): TensorSignature[] {
  const names = new Set(manifest[kind].map((t) => t.name));
  const artifact = manifest.artifacts.find((a) => a.signature[kind].every((t) => names.has(t.name)));
  return artifact?.signature[kind] ?? [];
}

/** Sizes of the named axes of a shape, when they are numbers. */
function axis(shape: ReadonlyArray<number | string>, layout: string, letter: string): number | undefined {
  const at = layout.indexOf(letter);
  const dim = at >= 0 ? shape[at] : undefined;
  return typeof dim === 'number' ? dim : undefined;
}

/** The I/O of one artifact of a manifest (see the module comment). */
export function artifactIo(manifest: Manifest, artifact: ManifestArtifact): ArtifactIo {
  const signature = artifact.signature;
  const namedInputs = namedTensors(manifest, 'inputs');
  const namedOutputs = namedTensors(manifest, 'outputs');
  const inputs = signature.inputs.map((tensor, index): IoInput => {
    const source =
      match(tensor, manifest.inputs, namedInputs) ??
      (signature.inputs.length === manifest.inputs.length ? manifest.inputs[index] : undefined);
    const sourceLayout = source?.layout ?? '';
    const layout = tensor.layout ?? (sourceLayout.length === tensor.shape.length ? sourceLayout : '');
    const kind = source ? inputKind(source, manifest) : 'tensor';
    const io: IoInput = {
      name: tensor.name,
      sourceName: source?.name ?? tensor.name,
      dtype: tensor.dtype,
      shape: tensor.shape,
      layout,
      ...(tensor.perm && !isIdentity(tensor.perm) ? { perm: tensor.perm } : {}),
      ...(tensor.quantization ? { quantization: tensor.quantization } : {}),
      kind,
      range: source?.range ?? [0, 1],
    };
    if (kind === 'image') {
      const height = axis(tensor.shape, layout, 'H') ?? axis(source!.shape, sourceLayout, 'H');
      const width = axis(tensor.shape, layout, 'W') ?? axis(source!.shape, sourceLayout, 'W');
      const channels = channelsOf(source!.shape, sourceLayout);
      if (height !== undefined && width !== undefined && /[CHW]{3}$/.test(layout.replace(/^N/, '')))
        io.image = { height, width, channels };
      else io.kind = 'tensor';
    }
    if (kind === 'audio') {
      const samples = axis(tensor.shape, layout, 'L');
      if (samples !== undefined) io.audio = { samples };
      else io.kind = 'tensor';
    }
    return io;
  });
  const outputs = signature.outputs.map((tensor): IoOutput => {
    const source = match(tensor, manifest.outputs, namedOutputs);
    return {
      name: tensor.name,
      sourceName: source?.name ?? tensor.source ?? tensor.name,
      ...(tensor.perm && !isIdentity(tensor.perm) ? { perm: tensor.perm } : {}),
      dtype: tensor.dtype,
      shape: tensor.shape,
      ...(tensor.layout ? { layout: tensor.layout } : {}),
      ...(tensor.quantization ? { quantization: tensor.quantization } : {}),
      classifier: source?.classifier ?? false,
    };
  });
  return {
    inputs,
    outputs,
    preprocess: manifest.preprocess,
    ...(manifest.labels ? { labels: manifest.labels } : {}),
  };
}

function isIdentity(perm: readonly number[]): boolean {
  return perm.every((axis, i) => axis === i);
}

/** The preprocessing changes nothing: snippets leave it out. */
export function hasPreprocess(io: ArtifactIo): boolean {
  return !isIdentityPreprocess(io.preprocess);
}
