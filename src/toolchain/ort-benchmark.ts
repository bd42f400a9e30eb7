/**
 * Benchmarks an ONNX model with onnxruntime-node in a process of its own per thread count
 * (ort-benchmark-child.mjs): the same session options and feeds as in process, but peak memory
 * measured for real. In the build's process, memory freed by the validations before is reused by
 * the next session, so its resident size barely grows (many benchmarks said 0 MB); a fresh process
 * starts from onnxruntime's import alone, and on Linux its kernel peak (VmHWM, restarted just
 * before the session is created) also catches what lives only between two samples.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EdgezooError } from '../errors.js';
import { toolRoot } from '../paths.js';
import type { Tensor } from '../validate/tensor.js';
import { onnxSessionOptions } from '../validate/runners/onnxruntime.js';
import { runCommand } from './process.js';

// Plain JavaScript in src/ (the compiled dist/ has only what tsc emits), run by node itself.
const CHILD = path.join(toolRoot, 'src', 'toolchain', 'ort-benchmark-child.mjs');

/** What one isolated run measured. */
export interface IsolatedOrtRun {
  loadMs: number;
  latenciesMs: number[];
  /** Peak resident size over the size before the session was created. */
  peakRssDeltaBytes: number;
  /** 'VmHWM' (the kernel's peak, Linux) or 'sampled' (after each run only). */
  peakSource: 'VmHWM' | 'sampled';
}

/** Loads `model` with `threads` threads in a new process, runs `feeds` `warmup` + `iterations` times. */
export async function benchmarkOnnxIsolated(options: {
  model: string;
  threads: number;
  feeds: Record<string, Tensor>;
  warmup: number;
  iterations: number;
  signal?: AbortSignal;
}): Promise<IsolatedOrtRun> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-ort-bench-'));
  try {
    const feeds = [];
    let index = 0;
    for (const [name, tensor] of Object.entries(options.feeds)) {
      const file = path.join(dir, `feed-${index++}.bin`);
      const data = tensor.data as ArrayBufferView;
      await writeFile(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      feeds.push({ name, dtype: tensor.dtype, dims: tensor.dims, file });
    }
    const request = {
      model: path.resolve(options.model),
      sessionOptions: onnxSessionOptions(options.threads),
      feeds,
      warmup: options.warmup,
      iterations: options.iterations,
    };
    const result = await runCommand([process.execPath, CHILD, JSON.stringify(request)], {
      ...(options.signal ? { signal: options.signal } : {}),
      check: false,
    });
    const line = result.stdout.trim().split('\n').at(-1) ?? '';
    if (result.code !== 0 || !line.startsWith('{'))
      throw new EdgezooError(
        'BENCHMARK_FAILED',
        `onnxruntime-node could not benchmark ${options.model} in its own process (exit ${result.code ?? result.signal}): ${result.stderr.trim().split('\n').slice(-3).join(' ')}`,
      );
    return JSON.parse(line) as IsolatedOrtRun;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
