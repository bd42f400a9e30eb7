// One onnxruntime-node benchmark in a process of its own (started by ort-benchmark.ts): plain
// JavaScript, so it starts in node's time without a TypeScript compiler. A fresh process is the
// only place where the resident memory a session adds can be measured: in the build's process,
// memory freed by earlier sessions is reused and a new session shows little or no growth.
//
// Request (JSON, argv[2]): { model, sessionOptions, feeds: [{ name, dtype, dims, file }], warmup, iterations }
// Reply (JSON, one line on stdout): { loadMs, latenciesMs, peakRssDeltaBytes, baselineRssBytes, peakSource }
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';

const ARRAYS = {
  float32: Float32Array,
  float16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

/** Linux: restarts the peak (VmHWM) at the current resident size. */
function resetPeak() {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** Linux: the peak resident size since the last reset, in bytes. */
function peakRss() {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

const request = JSON.parse(process.argv[2]);
const feeds = {};
for (const feed of request.feeds) {
  const bytes = readFileSync(feed.file);
  const TypedArray = ARRAYS[feed.dtype];
  const data = new TypedArray(bytes.buffer, bytes.byteOffset, bytes.byteLength / TypedArray.BYTES_PER_ELEMENT);
  feeds[feed.name] = new ort.Tensor(feed.dtype, data, feed.dims);
}

const canReset = resetPeak();
const baseline = process.memoryUsage.rss();
let sampled = baseline;
const loadStart = performance.now();
const session = await ort.InferenceSession.create(request.model, request.sessionOptions);
const loadMs = performance.now() - loadStart;
sampled = Math.max(sampled, process.memoryUsage.rss());
for (let i = 0; i < request.warmup; i++) {
  await session.run(feeds);
  sampled = Math.max(sampled, process.memoryUsage.rss());
}
const latenciesMs = [];
for (let i = 0; i < request.iterations; i++) {
  const started = performance.now();
  await session.run(feeds);
  latenciesMs.push(performance.now() - started);
  sampled = Math.max(sampled, process.memoryUsage.rss());
}
const kernelPeak = canReset ? peakRss() : undefined;
const peak = Math.max(sampled, kernelPeak ?? 0);
process.stdout.write(
  `${JSON.stringify({
    loadMs,
    latenciesMs,
    peakRssDeltaBytes: Math.max(0, peak - baseline),
    baselineRssBytes: baseline,
    peakSource: kernelPeak === undefined ? 'sampled' : 'VmHWM',
  })}\n`,
);
await session.release();
