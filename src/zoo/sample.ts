/**
 * A small zoo built from hand-made byte files, for tests, the pull benchmark and trying the
 * publishers without a toolchain. The artifacts are not real models; the zoo layer only
 * cares about bytes, hashes and figures.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Precision, Recipe, TargetFormat } from '../recipe/types.js';
import type { ArtifactInput, ModelVersionInput } from './types.js';
import { writeModelVersion } from './write.js';

/** A recipe with the fields the zoo reads filled in. */
export function sampleRecipe(name: string, version: string, overrides: Partial<Recipe> = {}): Recipe {
  return {
    name,
    version,
    license: 'Apache-2.0',
    description: `${name}: a sample classifier for tests`,
    task: 'image-classification',
    tags: ['vision'],
    source: {
      kind: 'onnx',
      file: { location: { kind: 'path', path: `models/${name}/model.onnx` }, sha256: '0'.repeat(64) },
    },
    inputs: [
      { name: 'input', shape: [1, 3, 8, 8], dynamic: [], layout: 'NCHW', dtype: 'float32', range: [-2.118, 2.64] },
    ],
    outputs: [{ name: 'logits', classifier: true }],
    preprocess: {
      resize: true,
      channelOrder: 'rgb',
      scale: 1 / 255,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    },
    validation: { samples: `models/${name}/val/*.npy`, count: 4, topk: 5, seed: 0 },
    targets: { onnx: ['fp32'] },
    skip: {},
    converters: { tflite: 'onnx2tf' },
    opset: 17,
    tolerances: {},
    ...overrides,
  };
}

/** Deterministic pseudo-random bytes (so the same seed gives the same sha256 in every run). */
export function sampleBytes(size: number, seed: string): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let offset = 0; offset < size; offset += block.length) {
    block.copy(out, offset, 0, Math.min(block.length, size - offset));
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

export interface SampleTarget {
  format: TargetFormat;
  precision: Precision;
  /** Bytes of the (main) file; default 1 KiB. */
  size?: number;
  /** Seed of the bytes; change it to make "different bytes" for the same target. */
  seed?: string;
  status?: 'passed' | 'failed';
}

/** Writes the files of each target into `workDir` and returns the `writeModelVersion` input for them. */
export async function sampleVersionInput(
  workDir: string,
  name: string,
  version: string,
  targets: SampleTarget[],
  options: { licenseText?: string; recipe?: Partial<Recipe> } = {},
): Promise<ModelVersionInput> {
  await mkdir(workDir, { recursive: true });
  const artifacts: ArtifactInput[] = [];
  for (const t of targets) {
    const seed = t.seed ?? `${name}@${version}/${t.format}/${t.precision}`;
    const bytes = sampleBytes(t.size ?? 1024, seed);
    const ext = t.format === 'openvino' ? 'xml' : t.format;
    const file = path.join(workDir, `${name}-${version}-${t.format}-${t.precision}.built.${ext}`);
    await writeFile(file, bytes);
    const companionFiles = [];
    if (t.format === 'openvino') {
      const bin = file.replace(/\.xml$/, '.bin');
      await writeFile(bin, sampleBytes(2048, `${seed}/bin`));
      companionFiles.push({ file: bin });
    }
    const nhwc = t.format === 'tflite';
    artifacts.push({
      format: t.format,
      precision: t.precision,
      file,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.length,
      ...(companionFiles.length > 0 ? { companionFiles } : {}),
      signature: {
        inputs: [
          {
            name: 'input',
            dtype: t.precision === 'int8' ? 'int8' : 'float32',
            shape: nhwc ? [1, 8, 8, 3] : [1, 3, 8, 8],
            layout: nhwc ? 'NHWC' : 'NCHW',
            ...(t.precision === 'int8' ? { quantization: { scale: [0.0078125], zeroPoint: [-128] } } : {}),
          },
        ],
        outputs: [{ name: 'logits', dtype: 'float32', shape: [1, 10] }],
      },
      validation: {
        status: t.status ?? 'passed',
        samples: 4,
        metrics: {
          logits: {
            maxAbs: t.status === 'failed' ? 3.5 : 1.2e-5,
            meanAbs: 2.1e-6,
            rmse: 3.3e-6,
            cosine: t.status === 'failed' ? 0.41 : 0.99999,
            top1: 1,
            topk: 1,
          },
        },
        ...(t.status === 'failed' ? { reason: 'cosine 0.41 below 0.99 on logits' } : {}),
      },
      benchmark: {
        loadMs: 12.5,
        medianMs: 1.75,
        p90Ms: 2.25,
        threads: 1,
        peakRssMb: 64,
        runtime: 'onnxruntime-node 1.30.0',
      },
      toolVersions: { onnxruntime: '1.30.0' },
      transposeCount: nhwc ? 0 : undefined,
      sizeRatio: t.precision === 'fp32' ? 1 : 0.5,
    });
  }
  return {
    recipe: sampleRecipe(name, version, options.recipe),
    artifacts,
    skipped: [{ format: 'tflite', precision: 'int16-act', reason: 'not needed for a sample' }],
    failed: [],
    source: { kind: 'onnx', sha256: 'a'.repeat(64), location: `models/${name}/model.onnx` },
    recipeFingerprint: 'b'.repeat(64),
    toolVersions: { edgezoo: '0.1.0' },
    ...(options.licenseText !== undefined ? { licenseText: options.licenseText } : {}),
  };
}

/** Writes a version of a sample model into `zooDir` (the inputs go to `zooDir/../sample-build`). */
export async function writeSampleVersion(
  zooDir: string,
  name: string,
  version: string,
  targets: SampleTarget[],
  options: { licenseText?: string; recipe?: Partial<Recipe> } = {},
) {
  const input = await sampleVersionInput(
    path.join(path.dirname(zooDir), 'sample-build'),
    name,
    version,
    targets,
    options,
  );
  return writeModelVersion(zooDir, input);
}
