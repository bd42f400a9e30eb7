import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp, { type OutputInfo } from 'sharp';
import type { InputSpec, InputValue, Preprocess, Recipe } from '../recipe/types.js';
import { SampleError } from './errors.js';
import { expandProjectGlob } from '../util/glob.js';
import { decodeNpy } from './npy.js';
import { seededRandom } from './random.js';
import { concatBatch, elementCount, formatDims, isFloatDtype, type Tensor } from './tensor.js';
import { castTensor, transposeLayout } from './transforms.js';
import { int64Of } from '../formats/onnx/patch.js';

/** Which sample set of a recipe. */
export type SampleSetKind = 'validation' | 'calibration';

/** One sample: a tensor per model input, in the recipe input's layout and (for floats) preprocessed. */
export interface Sample {
  /** Where it came from: `models/x/val/cat.png`, `models/x/val/batch.npy#3`, or `random#0`. */
  id: string;
  inputs: Record<string, Tensor>;
}

/** A loaded sample set. */
export interface LoadedSamples {
  kind: SampleSetKind;
  samples: Sample[];
  /** True when the recipe gave no samples and these are seeded random inputs in each input's range. */
  synthetic: boolean;
  /** The project-relative files used (empty when synthetic). */
  files: string[];
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

function sampleSetOf(recipe: Recipe, kind: SampleSetKind): { samples?: string; count: number } | undefined {
  return kind === 'validation' ? recipe.validation : recipe.calibration;
}

/**
 * The files a sample set uses: its glob's matches under `projectRoot`, sorted, the first `count`
 * (for multi-input recipes, the files of the first `count` samples). Empty when the set gives no glob.
 */
export async function sampleFiles(recipe: Recipe, projectRoot: string, kind: SampleSetKind): Promise<string[]> {
  const set = sampleSetOf(recipe, kind);
  if (!set?.samples) return [];
  const files = await expandProjectGlob(projectRoot, set.samples);
  if (files.length === 0) {
    throw new SampleError(
      `${kind} samples '${set.samples}' match no files in ${projectRoot}`,
      'check the glob, or leave `samples` out to validate on random inputs',
    );
  }
  const fed = recipe.inputs.filter((input) => input.value === undefined);
  if (fed.length === 1) return files.slice(0, set.count);
  const groups = groupByInput(files, fed);
  return [...groups.keys()].slice(0, set.count).flatMap((key) => Object.values(groups.get(key)!));
}

/**
 * Fails when the validation and calibration sets share files: an artifact quantised on the
 * samples it is then judged on would look better than it is.
 */
export async function checkSampleSetsDisjoint(recipe: Recipe, projectRoot: string): Promise<void> {
  const [validation, calibration] = await Promise.all([
    sampleFiles(recipe, projectRoot, 'validation'),
    sampleFiles(recipe, projectRoot, 'calibration'),
  ]);
  const calibrationSet = new Set(calibration);
  const shared = validation.filter((file) => calibrationSet.has(file));
  if (shared.length > 0) {
    const listed = shared.slice(0, 5).join(', ') + (shared.length > 5 ? `, and ${shared.length - 5} more` : '');
    throw new SampleError(
      `${recipe.name}: validation and calibration samples share ${shared.length} file${shared.length === 1 ? '' : 's'}: ${listed}`,
      'keep calibration and validation samples in separate folders',
    );
  }
}

/**
 * Loads a recipe's validation or calibration samples as model inputs. .npy files hold one
 * sample (or several stacked along the batch axis) in the input's layout, with or without the
 * batch dim of 1; images (png/jpg) are decoded, resized to the input's H x W and reordered to
 * its layout. Float inputs get `x = (x * scale - mean) / std` per channel; integer inputs are
 * taken as they are. Recipes with several inputs name files `<sample>.<input name>.npy`.
 * Without samples, returns `count` seeded random inputs within each input's range, flagged
 * `synthetic`.
 */
export async function loadSamples(recipe: Recipe, projectRoot: string, kind: SampleSetKind): Promise<LoadedSamples> {
  await checkSampleSetsDisjoint(recipe, projectRoot);
  const set = sampleSetOf(recipe, kind);
  const count = set?.count ?? recipe.validation.count;
  if (!set?.samples) {
    // Calibration gets a different stream from validation so the two never coincide.
    const seed = recipe.validation.seed + (kind === 'calibration' ? 1 : 0);
    return { kind, samples: syntheticSamples(recipe.inputs, count, seed), synthetic: true, files: [] };
  }
  const files = await sampleFiles(recipe, projectRoot, kind);
  const samples: Sample[] = [];
  // Constant inputs (`value:`) have no sample files: every sample gets the constant.
  const fed = recipe.inputs.filter((input) => input.value === undefined);
  const constants = Object.fromEntries(
    recipe.inputs.filter((input) => input.value !== undefined).map((input) => [input.name, constantTensor(input)]),
  );
  if (fed.length === 1) {
    const input = fed[0]!;
    for (const file of files) {
      const tensors = await loadSampleFile(projectRoot, file, input, recipe.preprocess);
      tensors.forEach((tensor, index) =>
        samples.push({
          id: tensors.length > 1 ? `${file}#${index}` : file,
          inputs: { ...constants, [input.name]: tensor },
        }),
      );
    }
  } else {
    const groups = groupByInput(files, fed);
    for (const [key, members] of groups) {
      const inputs: Record<string, Tensor> = { ...constants };
      for (const input of fed) {
        const tensors = await loadSampleFile(projectRoot, members[input.name]!, input, recipe.preprocess);
        if (tensors.length !== 1)
          throw new SampleError(
            `${members[input.name]}: holds ${tensors.length} samples; with several inputs each file holds one`,
          );
        inputs[input.name] = tensors[0]!;
      }
      samples.push({ id: key, inputs });
    }
  }
  return { kind, samples: samples.slice(0, count), synthetic: false, files };
}

/** Groups `<sample>.<input>.npy` files by sample; every sample must have every input. */
function groupByInput(files: string[], inputs: InputSpec[]): Map<string, Record<string, string>> {
  // Longest names first, so that input `x.1` wins over `1` for `a.x.1.npy`.
  const names = inputs.map((input) => input.name).sort((a, b) => b.length - a.length);
  const groups = new Map<string, Record<string, string>>();
  for (const file of files) {
    const stem = file.replace(/\.npy$/i, '');
    const name = file.toLowerCase().endsWith('.npy')
      ? names.find((candidate) => stem.endsWith(`.${candidate}`))
      : undefined;
    if (name === undefined) {
      throw new SampleError(
        `${file}: with several inputs, samples are .npy files named <sample>.<input>.npy, one of ${inputs.map((input) => input.name).join(', ')}`,
      );
    }
    const key = stem.slice(0, stem.length - name.length - 1);
    const group = groups.get(key) ?? {};
    group[name] = file;
    groups.set(key, group);
  }
  for (const [key, group] of groups) {
    const missing = inputs.filter((input) => group[input.name] === undefined).map((input) => input.name);
    if (missing.length)
      throw new SampleError(
        `sample ${key} has no file for input${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`,
      );
  }
  return groups;
}

/** Loads one file as one or more samples of `input`. */
async function loadSampleFile(
  projectRoot: string,
  file: string,
  input: InputSpec,
  preprocess: Preprocess,
): Promise<Tensor[]> {
  const absolute = path.join(projectRoot, file);
  const extension = path.extname(file).toLowerCase();
  if (extension === '.npy')
    return fitToInput(file, decodeNpy(await readFile(absolute), file), input).map((tensor) =>
      prepare(file, tensor, input, preprocess),
    );
  if (IMAGE_EXTENSIONS.has(extension))
    return [prepare(file, await decodeImage(absolute, file, input, preprocess), input, preprocess)];
  throw new SampleError(`${file}: samples must be .npy, .png or .jpg files`);
}

function dimFits(expected: number | string, actual: number): boolean {
  return typeof expected === 'string' || expected === actual;
}

/**
 * Splits or reshapes a loaded array into samples of the input's shape: exactly the shape; the
 * shape without its batch dim of 1; or several samples stacked along a batch axis of 1.
 */
function fitToInput(file: string, tensor: Tensor, input: InputSpec): Tensor[] {
  const shape = input.shape;
  const dims = tensor.dims;
  const fits = (actual: readonly number[], expected: ReadonlyArray<number | string>) =>
    actual.length === expected.length && actual.every((dim, i) => dimFits(expected[i]!, dim));
  const batchOfOne = input.layout.startsWith('N') && (shape[0] === 1 || typeof shape[0] === 'string');
  if (fits(dims, shape)) return [tensor];
  if (batchOfOne && fits(dims, ['*', ...shape.slice(1)])) {
    const perSample = elementCount(dims.slice(1));
    return Array.from({ length: dims[0]! }, (_, index) => ({
      dtype: tensor.dtype,
      dims: [1, ...dims.slice(1)],
      data: tensor.data.slice(index * perSample, (index + 1) * perSample),
    })) as Tensor[];
  }
  if (batchOfOne && fits([1, ...dims], shape)) return [{ ...tensor, dims: [1, ...dims] }];
  throw new SampleError(
    `${file}: shape ${formatDims(dims)} does not fit input '${input.name}' ${formatDims(shape)} (${input.layout})`,
    `store samples in the input's layout (${input.layout}), with or without the batch dim`,
  );
}

/** Casts to the input's dtype family and applies the preprocessing to float inputs. */
function prepare(file: string, tensor: Tensor, input: InputSpec, preprocess: Preprocess): Tensor {
  if (!isFloatDtype(input.dtype)) {
    if (isFloatDtype(tensor.dtype))
      throw new SampleError(`${file}: input '${input.name}' is ${input.dtype}, the file holds ${tensor.dtype}`);
    return castTensor(tensor, input.dtype);
  }
  // Samples stay float32 even for float16 inputs: runners cast to what each artifact declares.
  const values = castTensor(tensor, 'float32');
  const data = values === tensor ? new Float32Array(values.data) : values.data;
  const channelAxis = input.layout.indexOf('C');
  const channels = channelAxis >= 0 ? tensor.dims[channelAxis]! : 1;
  const mean = perChannel(preprocess.mean, channels, 'mean', input);
  const std = perChannel(preprocess.std, channels, 'std', input);
  const inner = channelAxis >= 0 ? elementCount(tensor.dims.slice(channelAxis + 1)) : data.length;
  for (let i = 0; i < data.length; i++) {
    const channel = channelAxis >= 0 ? Math.floor(i / inner) % channels : 0;
    data[i] = (data[i]! * preprocess.scale - mean[channel]!) / std[channel]!;
  }
  return { dtype: 'float32', dims: [...tensor.dims], data };
}

function perChannel(values: number[], channels: number, what: string, input: InputSpec): number[] {
  if (values.length === 1) return new Array<number>(channels).fill(values[0]!);
  if (values.length === channels) return values;
  throw new SampleError(
    `preprocess ${what} has ${values.length} values but input '${input.name}' has ${channels} channel${channels === 1 ? '' : 's'} (layout ${input.layout})`,
  );
}

/** Decodes an image to a uint8 tensor in the input's layout (before scale/mean/std). */
async function decodeImage(absolute: string, file: string, input: InputSpec, preprocess: Preprocess): Promise<Tensor> {
  const layout = input.layout;
  const axis = (letter: string) => layout.indexOf(letter);
  if (axis('H') < 0 || axis('W') < 0 || axis('C') < 0 || !/^N?[HWC]{3}$/.test(layout)) {
    throw new SampleError(
      `${file}: image samples need an image input (layout NCHW, NHWC, CHW or HWC); '${input.name}' is ${layout}`,
    );
  }
  const dimOf = (letter: string) => input.shape[axis(letter)];
  const channels = dimOf('C');
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new SampleError(
      `${file}: image samples need 1, 3 or 4 channels; input '${input.name}' has ${String(channels)}`,
    );
  }
  let pipeline = sharp(absolute, { failOn: 'error' });
  let width: number;
  let height: number;
  try {
    const meta = await pipeline.metadata();
    width = meta.width ?? 0;
    height = meta.height ?? 0;
  } catch (error) {
    throw new SampleError(`${file}: cannot decode the image: ${(error as Error).message}`);
  }
  const wantHeight = dimOf('H');
  const wantWidth = dimOf('W');
  const targetHeight = typeof wantHeight === 'number' ? wantHeight : height;
  const targetWidth = typeof wantWidth === 'number' ? wantWidth : width;
  if (targetHeight !== height || targetWidth !== width) {
    if (!preprocess.resize) {
      throw new SampleError(
        `${file}: image is ${width}x${height}, input '${input.name}' takes ${targetWidth}x${targetHeight}, and preprocess.resize is off`,
      );
    }
    // Stretch to exactly H x W (no crop); 'linear' with libvips' reduce is an antialiased bilinear.
    pipeline = pipeline.resize(targetWidth, targetHeight, { fit: 'fill', kernel: 'linear' });
  }
  if (channels === 1) pipeline = pipeline.greyscale();
  else pipeline = pipeline.toColourspace('srgb');
  pipeline = channels === 4 ? pipeline.ensureAlpha() : pipeline.removeAlpha();
  let raw: Buffer;
  let info: OutputInfo;
  try {
    ({ data: raw, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true }));
  } catch (error) {
    throw new SampleError(`${file}: cannot decode the image: ${(error as Error).message}`);
  }
  if (info.channels !== channels)
    throw new SampleError(`${file}: decoded ${info.channels} channels, input '${input.name}' takes ${channels}`);
  const hwc = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength).slice();
  if (preprocess.channelOrder === 'bgr' && channels >= 3) {
    for (let i = 0; i < hwc.length; i += channels) {
      const red = hwc[i]!;
      hwc[i] = hwc[i + 2]!;
      hwc[i + 2] = red;
    }
  }
  const hasBatch = layout.startsWith('N');
  const tensor: Tensor = {
    dtype: 'uint8',
    dims: hasBatch ? [1, info.height, info.width, channels] : [info.height, info.width, channels],
    data: hwc,
  };
  return transposeLayout(tensor, hasBatch ? 'NHWC' : 'HWC', layout);
}

/**
 * `count` seeded random samples, uniform within each input's `range` (integers for integer
 * inputs, 0/1 for bool). Symbolic dims become 1.
 */
export function syntheticSamples(inputs: readonly InputSpec[], count: number, seed: number): Sample[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, index) => {
    const tensors: Record<string, Tensor> = {};
    for (const input of inputs) {
      if (input.value !== undefined) {
        // A constant draws no random numbers: the fed inputs get the same values with or without it.
        tensors[input.name] = constantTensor(input);
        continue;
      }
      const dims = input.shape.map((dim) => (typeof dim === 'number' ? dim : 1));
      const [low, high] = input.range;
      const length = elementCount(dims);
      if (isFloatDtype(input.dtype)) {
        const data = new Float32Array(length);
        for (let i = 0; i < length; i++) data[i] = low + random() * (high - low);
        tensors[input.name] = { dtype: 'float32', dims, data };
      } else {
        const lowInt = Math.ceil(low);
        const span = Math.max(0, Math.floor(high) - lowInt) + 1;
        const values = new Float32Array(length);
        for (let i = 0; i < length; i++)
          values[i] = input.dtype === 'bool' ? (random() < 0.5 ? 0 : 1) : lowInt + Math.floor(random() * span);
        tensors[input.name] = castTensor({ dtype: 'float32', dims, data: values }, input.dtype);
      }
    }
    return { id: `random#${index}`, inputs: tensors };
  });
}

/**
 * The tensor of a constant input (`value:`): its nested lists flattened in C order into the
 * input's shape and dtype. A value whose element count does not fit the shape is a SampleError
 * (the recipe rules report it at `check` already).
 */
export function constantTensor(input: InputSpec): Tensor {
  const flat: Array<number | boolean> = [];
  const walk = (value: InputValue) => {
    if (Array.isArray(value)) value.forEach(walk);
    else flat.push(value);
  };
  walk(input.value!);
  const dims = input.shape.map((dim) => (typeof dim === 'number' ? dim : 1));
  if (flat.length !== elementCount(dims))
    throw new SampleError(
      `input '${input.name}': value has ${flat.length} element(s), its shape ${formatDims(dims)} needs ${elementCount(dims)}`,
    );
  const numbers = flat.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v));
  if (input.dtype === 'int64') return { dtype: 'int64', dims, data: BigInt64Array.from(numbers, int64Of) };
  const values: Tensor = { dtype: 'float32', dims, data: Float32Array.from(numbers) };
  // Float samples stay float32 (as files are loaded); feeding casts to the artifact's dtype.
  return isFloatDtype(input.dtype) ? values : castTensor(values, input.dtype);
}

/**
 * One input of every sample stacked along the batch axis, optionally transposed from the recipe
 * input's layout into `layout`: what converters take as calibration data (onnx2tf's `-cind`
 * wants one NHWC float32 array; write it with `writeNpy`).
 */
export function stackSampleInput(samples: LoadedSamples, input: InputSpec, layout: string = input.layout): Tensor {
  const tensors = samples.samples.map((sample) => {
    const tensor = sample.inputs[input.name];
    if (!tensor) throw new SampleError(`sample ${sample.id} has no tensor for input '${input.name}'`);
    return layout === input.layout ? tensor : transposeLayout(tensor, input.layout, layout);
  });
  return concatBatch(tensors);
}
