import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { ModelRunner } from './runners/runner.js';
import { WorkerModelRunner } from './runners/worker.js';
import type { Tensor } from './tensor.js';

/** Options of `benchmarkModel`. */
export interface BenchmarkOptions {
  /** Untimed runs first (allocations, kernel selection, caches). Default 3. */
  warmup?: number;
  /** Timed runs. Default 20. */
  iterations?: number;
  /** Thread counts to measure, each with a fresh load. Default [1, all cores]. */
  threads?: number[];
}

/** Figures for one thread count. */
export interface BenchmarkRun {
  threads: number;
  /** Wall time of loading (and compiling) the model. */
  loadMs: number;
  medianMs: number;
  /** Nearest-rank 90th percentile. */
  p90Ms: number;
  minMs: number;
  meanMs: number;
  iterations: number;
  /**
   * Resident memory the model added at its peak, load and runs, over the size before the load.
   * In process this is the Node process, where memory freed by earlier work is reused (the build
   * benchmarks ONNX in a process of its own: src/toolchain/ort-benchmark.ts). Worker runtimes:
   * the Python side returns its freed heap to the system and restarts its kernel peak before
   * loading.
   */
  peakRssDeltaBytes: number;
  /** Where the clock ran: 'in-process' around run(), or 'worker' around the runtime's invoke. */
  timedIn: 'in-process' | 'worker';
}

/** Benchmark of one artifact. */
export interface BenchmarkResult {
  runtime: ModelRunner['runtime'];
  warmup: number;
  runs: BenchmarkRun[];
}

/** Nearest-rank percentile of ascending values. */
export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil(fraction * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/** Default thread counts: one, and every core (deduplicated on a one-core machine). */
export function defaultThreadCounts(): number[] {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return [...new Set([1, Math.max(1, cores)])];
}

/**
 * Measures load time, median and p90 latency and peak memory of a model for each thread count.
 * `createRunner(threads)` makes an unloaded runner; `feeds` are ready for it (see `prepareFeeds`),
 * computed from the runner's inputs on first load when given as a function.
 */
export async function benchmarkModel(
  createRunner: (threads: number) => ModelRunner,
  modelPath: string,
  feeds: Record<string, Tensor> | ((runner: ModelRunner) => Record<string, Tensor>),
  options: BenchmarkOptions = {},
): Promise<BenchmarkResult> {
  const warmup = options.warmup ?? 3;
  const iterations = Math.max(1, options.iterations ?? 20);
  const runs: BenchmarkRun[] = [];
  let runtime: ModelRunner['runtime'] = 'onnxruntime';
  for (const threads of options.threads ?? defaultThreadCounts()) {
    const runner = createRunner(threads);
    runtime = runner.runtime;
    const rssBefore = process.memoryUsage.rss();
    const loadStart = performance.now();
    await runner.load(modelPath);
    let loadMs = performance.now() - loadStart;
    try {
      const ready = typeof feeds === 'function' ? feeds(runner) : feeds;
      if (runner instanceof WorkerModelRunner) {
        const reply = await runner.benchmark(ready, { warmup, iterations });
        const figures = runner.loadFigures;
        if (figures) loadMs = figures.loadSeconds * 1000;
        runs.push({
          threads,
          loadMs,
          ...latencyFigures(reply.latenciesMs),
          // The worker's peak counts from before the load (its kernel peak restarted there).
          peakRssDeltaBytes: Math.max(reply.peakRssDeltaBytes, figures?.rssDeltaBytes ?? 0),
          timedIn: 'worker',
        });
        continue;
      }
      let peakRss = process.memoryUsage.rss();
      for (let i = 0; i < warmup; i++) {
        await runner.run(ready);
        peakRss = Math.max(peakRss, process.memoryUsage.rss());
      }
      const latencies: number[] = [];
      for (let i = 0; i < iterations; i++) {
        const start = performance.now();
        await runner.run(ready);
        latencies.push(performance.now() - start);
        peakRss = Math.max(peakRss, process.memoryUsage.rss());
      }
      runs.push({
        threads,
        loadMs,
        ...latencyFigures(latencies),
        peakRssDeltaBytes: Math.max(0, peakRss - rssBefore),
        timedIn: 'in-process',
      });
    } finally {
      await runner.dispose();
    }
  }
  return { runtime, warmup, runs };
}

/** Median, p90, min and mean of some latencies, and how many. */
export function latencyFigures(latencies: readonly number[]) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    medianMs: percentile(sorted, 0.5),
    p90Ms: percentile(sorted, 0.9),
    minMs: sorted[0] ?? 0,
    meanMs: sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length),
    iterations: sorted.length,
  };
}
