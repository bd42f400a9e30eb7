import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { encodeModel } from '../../src/formats/onnx/index.js';
import { benchmarkOnnxIsolated } from '../../src/toolchain/ort-benchmark.js';
import { convNet, seededFloats } from './onnx-fixtures.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

test('an ONNX benchmark in its own process times every run and measures the memory the session adds', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-ort-bench-test-'));
  dirs.push(dir);
  const model = path.join(dir, 'conv.onnx');
  await writeFile(model, encodeModel(convNet()));
  const run = await benchmarkOnnxIsolated({
    model,
    threads: 1,
    feeds: { x: { dtype: 'float32', dims: [1, 3, 8, 8], data: seededFloats(192, 7) } },
    warmup: 2,
    iterations: 7,
  });
  assert.equal(run.latenciesMs.length, 7);
  assert.ok(run.latenciesMs.every((ms) => ms > 0));
  assert.ok(run.loadMs > 0);
  if (process.platform === 'linux') assert.equal(run.peakSource, 'VmHWM');
  // A session (thread pool, arena, kernels) costs megabytes even for a tiny model; measured in the
  // build's own process, memory freed by earlier sessions hid it (0 MB rows).
  assert.ok(run.peakRssDeltaBytes > 1024 * 1024, `${run.peakRssDeltaBytes} bytes`);

  await assert.rejects(
    benchmarkOnnxIsolated({ model: path.join(dir, 'missing.onnx'), threads: 1, feeds: {}, warmup: 0, iterations: 1 }),
    /onnxruntime-node could not benchmark .*missing\.onnx in its own process \(exit 1\)/,
  );
});
