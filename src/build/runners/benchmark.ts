/**
 * The benchmark step: load time, median and p90 latency after warm-up (one thread and every
 * core) and peak memory of an artifact in the runtime a user would run it in. Writes
 * `benchmark.json` (BenchmarkRecord).
 *
 * Inputs are one seeded random sample per recipe input (in its range): latency of these small
 * static-shape models does not depend on the values, and the benchmark's params hold only the
 * inputs, so real samples would not be in its cache key anyway.
 */
import os from 'node:os';
import path from 'node:path';
import type { PlannedStepOf } from '../../plan/index.js';
import { benchmarkModel, defaultThreadCounts, prepareFeeds, syntheticSamples } from '../../validate/index.js';
import { BENCHMARK_FILE, writeStepFile, type BenchmarkRecord } from '../step-files.js';
import type { StepContext, StepResult } from '../types.js';
import { artifactRunner, inputOf, readArtifactRecord, validationSignature } from './validate.js';

/** Untimed runs before the clock starts, and timed runs per thread count. */
const WARMUP = 5;
const ITERATIONS = 30;

/** The benchmark step runner (see the module comment). */
export async function runBenchmarkStep(step: PlannedStepOf<'benchmark'>, ctx: StepContext): Promise<StepResult> {
  const params = step.params;
  const target = `${params.format}/${params.precision}`;
  const convert = inputOf(ctx, `${params.model}/convert/${target}`);
  const record = await readArtifactRecord(convert.dir);
  const signature = validationSignature(record);
  const [sample] = syntheticSamples(params.inputs, 1, 0);
  const result = await benchmarkModel(
    (threads) => artifactRunner(params.format, ctx, threads),
    path.join(convert.dir, record.primary),
    (runner) => prepareFeeds(sample!, params.inputs, runner.inputs(), signature),
    { warmup: WARMUP, iterations: ITERATIONS, threads: defaultThreadCounts() },
  );
  const benchmark: BenchmarkRecord = {
    runtime: result.runtime,
    loadMs: result.runs[0]?.loadMs ?? 0,
    runs: result.runs.map(({ threads, loadMs, medianMs, p90Ms, minMs, iterations, timedIn }) => ({
      threads,
      loadMs,
      medianMs,
      p90Ms,
      minMs,
      iterations,
      timedIn,
    })),
    peakRssMb: Math.max(0, ...result.runs.map((run) => run.peakRssDeltaBytes)) / (1024 * 1024),
    warmup: result.warmup,
    host: `${os.cpus()[0]?.model.trim() ?? 'unknown CPU'} (${os.availableParallelism()} cores), ${os.platform()} ${os.arch()}`,
  };
  await writeStepFile(ctx.outDir, BENCHMARK_FILE, benchmark);
  for (const run of benchmark.runs)
    ctx.log(
      `${target} ${result.runtime} threads=${run.threads}: median ${run.medianMs.toFixed(3)} ms, p90 ${run.p90Ms.toFixed(3)} ms, load ${run.loadMs.toFixed(1)} ms`,
    );
  const single = benchmark.runs[0];
  return {
    status: 'ok',
    figures: {
      medianMs: single?.medianMs ?? 0,
      p90Ms: single?.p90Ms ?? 0,
      loadMs: benchmark.loadMs,
      peakRssMb: benchmark.peakRssMb,
    },
  };
}
