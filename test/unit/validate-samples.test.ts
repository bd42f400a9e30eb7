import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import sharp from 'sharp';
import type { InputSpec, Recipe } from '../../src/recipe/types.js';
import { encodeNpy, loadSamples, SampleError, stackSampleInput, type Tensor } from '../../src/validate/index.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-samples-'));
after(() => rmSync(root, { recursive: true, force: true }));

function write(relative: string, bytes: Uint8Array | string): void {
  const file = path.join(root, relative);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, bytes);
}

function npy(tensor: Tensor): Buffer {
  return encodeNpy(tensor);
}

function recipe(overrides: Partial<Recipe> & { input?: Partial<InputSpec> } = {}): Recipe {
  const { input, ...rest } = overrides;
  return {
    name: 'tiny',
    version: '1.0.0',
    license: 'MIT',
    description: 'test',
    task: 'image-classification',
    tags: [],
    source: {
      kind: 'onnx',
      file: { location: { kind: 'path', path: 'models/tiny/model.onnx' }, sha256: '0'.repeat(64) },
    },
    inputs: [
      { name: 'x', shape: [1, 3, 2, 2], dynamic: [], layout: 'NCHW', dtype: 'float32', range: [0, 1], ...input },
    ],
    outputs: [],
    preprocess: { resize: true, channelOrder: 'rgb', scale: 1, mean: [0], std: [1] },
    validation: { samples: '', count: 4, topk: 5, seed: 7 },
    targets: { onnx: ['fp32'] },
    skip: {},
    converters: {},
    opset: 17,
    tolerances: {},
    ...rest,
  };
}

async function rejects(promise: Promise<unknown>, message: string, hint?: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof SampleError, String(error));
    assert.equal(error.code, 'SAMPLES_INVALID');
    assert.equal(error.message, message);
    if (hint !== undefined) assert.equal(error.hint, hint);
    return true;
  });
}

// Fixtures, generated here.
const ones = (dims: number[], value: number): Tensor => ({
  dtype: 'float32',
  dims,
  data: new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(value),
});
write('models/tiny/val/b.npy', npy(ones([1, 3, 2, 2], 2)));
write('models/tiny/val/a.npy', npy(ones([3, 2, 2], 1))); // without the batch dim
write('models/tiny/val/c.npy', npy(ones([2, 3, 2, 2], 3))); // two samples stacked
write('models/tiny/val/notes.txt', 'not a sample');
write('models/tiny/calib/a.npy', npy(ones([1, 3, 2, 2], 9)));
write('models/tiny/bad/wrong.npy', npy(ones([1, 2, 2, 3], 0)));

describe('loadSamples', () => {
  test('.npy samples: sorted, batch dim added or split, first count, preprocessed per channel', async () => {
    const loaded = await loadSamples(
      recipe({
        validation: { samples: 'models/tiny/val/*.npy', count: 3, topk: 5, seed: 0 },
        preprocess: { resize: true, channelOrder: 'rgb', scale: 0.5, mean: [0, 1, 2], std: [1, 1, 0.5] },
      }),
      root,
      'validation',
    );
    assert.equal(loaded.synthetic, false);
    assert.deepEqual(loaded.files, ['models/tiny/val/a.npy', 'models/tiny/val/b.npy', 'models/tiny/val/c.npy']);
    assert.deepEqual(
      loaded.samples.map((s) => s.id),
      ['models/tiny/val/a.npy', 'models/tiny/val/b.npy', 'models/tiny/val/c.npy#0'],
    );
    const first = loaded.samples[0]!.inputs.x!;
    assert.deepEqual(first.dims, [1, 3, 2, 2]);
    // (1 * 0.5 - mean[c]) / std[c] for channels 0, 1, 2
    assert.deepEqual([...first.data], [0.5, 0.5, 0.5, 0.5, -0.5, -0.5, -0.5, -0.5, -3, -3, -3, -3]);
    // Calibration data for onnx2tf: all samples stacked, NHWC.
    const stacked = stackSampleInput(loaded, recipe().inputs[0]!, 'NHWC');
    assert.deepEqual(stacked.dims, [3, 2, 2, 3]);
    assert.deepEqual([...(stacked.data as Float32Array)].slice(0, 3), [0.5, -0.5, -3]);
  });

  test('images are decoded, resized to H x W, put in the input layout and scaled', async () => {
    // A 2x2 PNG: left column pure red, right column pure blue (no resize, exact values).
    const pixels = Buffer.from([255, 0, 0, 0, 0, 255, 255, 0, 0, 0, 0, 255]);
    write(
      'models/img/val/pic.png',
      await sharp(pixels, { raw: { width: 2, height: 2, channels: 3 } })
        .png()
        .toBuffer(),
    );
    // A uniform 6x4 green JPEG: resizing keeps its colour wherever the kernel looks.
    const green = Buffer.alloc(6 * 4 * 3);
    for (let i = 0; i < green.length; i += 3) green[i + 1] = 255;
    write(
      'models/img/val/pic2.jpg',
      await sharp(green, { raw: { width: 6, height: 4, channels: 3 } })
        .jpeg({ quality: 100 })
        .toBuffer(),
    );
    const base = recipe({
      validation: { samples: 'models/img/val/pic.png', count: 1, topk: 5, seed: 0 },
      preprocess: { resize: true, channelOrder: 'rgb', scale: 1 / 255, mean: [0], std: [1] },
      input: { shape: [1, 2, 2, 3], layout: 'NHWC' },
    });
    const rgb = (await loadSamples(base, root, 'validation')).samples[0]!.inputs.x!;
    assert.deepEqual(rgb.dims, [1, 2, 2, 3]);
    assert.deepEqual(
      [...(rgb.data as Float32Array)].map((v) => Math.round(v * 100) / 100),
      [1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1],
    );
    const bgrNchw = (
      await loadSamples(
        recipe({
          ...base,
          inputs: [{ ...base.inputs[0]!, shape: [1, 3, 2, 2], layout: 'NCHW' }],
          preprocess: { ...base.preprocess, channelOrder: 'bgr' },
        }),
        root,
        'validation',
      )
    ).samples[0]!.inputs.x!;
    assert.deepEqual(
      [...(bgrNchw.data as Float32Array)].map((v) => Math.round(v * 100) / 100),
      [0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0],
    );
    const jpeg = (
      await loadSamples(
        recipe({ ...base, validation: { ...base.validation, samples: 'models/img/val/*.jpg' } }),
        root,
        'validation',
      )
    ).samples[0]!.inputs.x!;
    assert.deepEqual(jpeg.dims, [1, 2, 2, 3]);
    assert.deepEqual(
      [...(jpeg.data as Float32Array)].map((v) => Math.round(v * 10) / 10),
      [0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0],
      `jpeg decoded as ${[...jpeg.data]}`,
    );
    await rejects(
      loadSamples(
        recipe({
          ...base,
          validation: { ...base.validation, samples: 'models/img/val/*.jpg' },
          preprocess: { ...base.preprocess, resize: false },
        }),
        root,
        'validation',
      ),
      "models/img/val/pic2.jpg: image is 6x4, input 'x' takes 2x2, and preprocess.resize is off",
    );
  });

  test('without samples: seeded random inputs in range, flagged synthetic, the same every time', async () => {
    const r = recipe({ input: { range: [-2, 2] } });
    const one = await loadSamples(r, root, 'validation');
    const two = await loadSamples(r, root, 'validation');
    assert.equal(one.synthetic, true);
    assert.equal(one.samples.length, 4);
    assert.deepEqual([...one.samples[3]!.inputs.x!.data], [...two.samples[3]!.inputs.x!.data]);
    const values = one.samples.flatMap((s) => [...(s.inputs.x!.data as Float32Array)]);
    assert.ok(values.every((v) => v >= -2 && v < 2));
    assert.ok(Math.min(...values) < -1 && Math.max(...values) > 1, 'spread over the range');
    const calibration = await loadSamples(r, root, 'calibration');
    assert.notDeepEqual([...calibration.samples[0]!.inputs.x!.data], [...one.samples[0]!.inputs.x!.data]);
    const ids = await loadSamples(
      recipe({ inputs: [{ name: 'ids', shape: [1, 5], dynamic: [], layout: 'NL', dtype: 'int64', range: [0, 3] }] }),
      root,
      'validation',
    );
    const idValues = ids.samples.flatMap((s) => [...(s.inputs.ids!.data as BigInt64Array)].map(Number));
    assert.equal(ids.samples[0]!.inputs.ids!.dtype, 'int64');
    assert.deepEqual([...new Set(idValues)].sort(), [0, 1, 2, 3]);
  });

  test('validation and calibration sets must not share files', async () => {
    await rejects(
      loadSamples(
        recipe({
          validation: { samples: 'models/tiny/**/a.npy', count: 4, topk: 5, seed: 0 },
          calibration: { samples: 'models/tiny/val/*.npy', count: 2 },
        }),
        root,
        'validation',
      ),
      'tiny: validation and calibration samples share 1 file: models/tiny/val/a.npy',
      'keep calibration and validation samples in separate folders',
    );
  });

  test('errors name the file and what was expected', async () => {
    await rejects(
      loadSamples(
        recipe({ validation: { samples: 'models/tiny/bad/*.npy', count: 4, topk: 5, seed: 0 } }),
        root,
        'validation',
      ),
      "models/tiny/bad/wrong.npy: shape [1, 2, 2, 3] does not fit input 'x' [1, 3, 2, 2] (NCHW)",
      "store samples in the input's layout (NCHW), with or without the batch dim",
    );
    await rejects(
      loadSamples(
        recipe({ validation: { samples: 'models/none/*.npy', count: 4, topk: 5, seed: 0 } }),
        root,
        'validation',
      ),
      `validation samples 'models/none/*.npy' match no files in ${root}`,
    );
    await rejects(
      loadSamples(
        recipe({
          validation: { samples: 'models/tiny/val/*.npy', count: 4, topk: 5, seed: 0 },
          preprocess: { resize: true, channelOrder: 'rgb', scale: 1, mean: [1, 2], std: [1] },
        }),
        root,
        'validation',
      ),
      "preprocess mean has 2 values but input 'x' has 3 channels (layout NCHW)",
    );
  });

  test('several inputs: files named <sample>.<input>.npy are grouped by sample', async () => {
    write('models/multi/val/s1.image.npy', npy(ones([1, 3, 2, 2], 1)));
    write('models/multi/val/s1.mask.npy', npy({ dtype: 'uint8', dims: [1, 4], data: new Uint8Array([1, 0, 1, 0]) }));
    write('models/multi/val/s2.image.npy', npy(ones([1, 3, 2, 2], 2)));
    write('models/multi/val/s2.mask.npy', npy({ dtype: 'uint8', dims: [1, 4], data: new Uint8Array([0, 0, 0, 1]) }));
    const inputs: InputSpec[] = [
      { name: 'image', shape: [1, 3, 2, 2], dynamic: [], layout: 'NCHW', dtype: 'float32', range: [0, 1] },
      { name: 'mask', shape: [1, 4], dynamic: [], layout: 'NL', dtype: 'uint8', range: [0, 1] },
    ];
    const loaded = await loadSamples(
      recipe({ inputs, validation: { samples: 'models/multi/val/*.npy', count: 8, topk: 5, seed: 0 } }),
      root,
      'validation',
    );
    assert.deepEqual(
      loaded.samples.map((s) => s.id),
      ['models/multi/val/s1', 'models/multi/val/s2'],
    );
    assert.equal(loaded.samples[1]!.inputs.image!.data[0], 2);
    assert.deepEqual([...loaded.samples[1]!.inputs.mask!.data], [0, 0, 0, 1]);
    write('models/multi/val/s3.image.npy', npy(ones([1, 3, 2, 2], 3)));
    await rejects(
      loadSamples(
        recipe({ inputs, validation: { samples: 'models/multi/val/*.npy', count: 8, topk: 5, seed: 0 } }),
        root,
        'validation',
      ),
      'sample models/multi/val/s3 has no file for input mask',
    );
  });
});
