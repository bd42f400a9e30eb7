/**
 * The benchmark step: load time, median and p90 latency after warm-up (one thread and every
 * core) and peak memory of an artifact in the runtime a user would run it in, with the machine
 * and the runtime's version. Writes `benchmark.json` (BenchmarkRecord). The executor runs it
 * alone (resource class 'exclusive'): no converter or validation beside it.
 *
 * Inputs are one seeded random sample per recipe input (in its range): latency of these small
 * static-shape models does not depend on the values, and the benchmark's params hold only the
 * inputs, so real samples would not be in its cache key anyway.
 *
 * Peak memory is measured where it can be: ONNX in an onnxruntime-node process of its own per
 * thread count (in the build's process, memory freed by the validations is reused and a session
 * seems to add nothing); LiteRT and OpenVINO in the Python worker, which hands its freed heap
 * back to the system and restarts the kernel's peak before each load.
 */
import os from 'node:os';
import path from 'node:path';
import type { PlannedStepOf } from '../../plan/index.js';
import { benchmarkOnnxIsolated } from '../../toolchain/ort-benchmark.js';
import {
  benchmarkModel,
  type BenchmarkResult,
  defaultThreadCounts,
  latencyFigures,
  prepareFeeds,
  syntheticSamples,
} from '../../validate/index.js';
import { readToolchainVersions } from '../project.js';
import { BENCHMARK_FILE, type BenchmarkMachine, writeStepFile, type BenchmarkRecord } from '../step-files.js';
import type { StepContext, StepResult } from '../types.js';
import { artifactRunner, inputOf, readArtifactRecord, validationSignature } from './validate.js';

/** Untimed runs before the clock starts, and timed runs per thread count. */
const WARMUP = 5;
const ITERATIONS = 30;
const MIB = 1024 * 1024;

/** This machine, as benchmarks record it. */
export function benchmarkMachine(): BenchmarkMachine {
  return {
    cpu: os.cpus()[0]?.model.trim() || 'unknown CPU',
    cores: os.availableParallelism(),
    memoryMiB: Math.round(os.totalmem() / MIB),
    os: `${os.type()} ${os.release()}`,
    arch: os.arch(),
    node: process.versions.node,
  };
}

/** `Intel(R) Xeon(R) Processor, 2 cores, 7.8 GiB, Linux 6.8.0 x64, Node 20.20.2`. */
export function describeMachine(machine: BenchmarkMachine): string {
  return `${machine.cpu}, ${machine.cores} cores, ${(machine.memoryMiB / 1024).toFixed(1)} GiB, ${machine.os} ${machine.arch}, Node ${machine.node}`;
}

/** The benchmark step runner (see the module comment). */
export async function runBenchmarkStep(step: PlannedStepOf<'benchmark'>, ctx: StepContext): Promise<StepResult> {
  const params = step.params;
  const target = `${params.format}/${params.precision}`;
  const convert = inputOf(ctx, `${params.model}/convert/${target}`);
  const record = await readArtifactRecord(convert.dir);
  const signature = validationSignature(record);
  const [sample] = syntheticSamples(params.inputs, 1, 0);
  const modelPath = path.join(convert.dir, record.primary);
  const runtime = ctx.catalogue.requireFormat(params.format).runtime;
  const options = { warmup: WARMUP, iterations: ITERATIONS, threads: defaultThreadCounts() };
  let peakRssSource: BenchmarkRecord['peakRssSource'] = 'VmHWM';
  let result: BenchmarkResult;
  if (runtime.name === 'onnxruntime') {
    // The feeds from one load in process (the inputs' types and layouts), then each thread count
    // in an onnxruntime-node process of its own.
    const probe = artifactRunner(params.format, ctx, 1);
    await probe.load(modelPath);
    let feeds: ReturnType<typeof prepareFeeds>;
    try {
      feeds = prepareFeeds(sample!, params.inputs, probe.inputs(), signature);
    } finally {
      await probe.dispose();
    }
    const runs: BenchmarkResult['runs'] = [];
    for (const threads of options.threads) {
      const run = await benchmarkOnnxIsolated({
        model: modelPath,
        threads,
        feeds,
        warmup: WARMUP,
        iterations: ITERATIONS,
        signal: ctx.signal,
      });
      if (run.peakSource === 'sampled') peakRssSource = 'sampled';
      runs.push({
        threads,
        loadMs: run.loadMs,
        ...latencyFigures(run.latenciesMs),
        peakRssDeltaBytes: run.peakRssDeltaBytes,
        timedIn: 'in-process',
      });
    }
    result = { runtime: 'onnxruntime', warmup: WARMUP, runs };
  } else {
    result = await benchmarkModel(
      (threads) => artifactRunner(params.format, ctx, threads),
      modelPath,
      (runner) => prepareFeeds(sample!, params.inputs, runner.inputs(), signature),
      options,
    );
    if (process.platform !== 'linux') peakRssSource = 'sampled';
  }
  const versions: Record<string, string> = await readToolchainVersions(ctx.catalogue).catch(() => ({}));
  // `2.2.0 (torch lock 0123abcd...)` -> `2.2.0`
  const runtimeVersion = versions[runtime.tool]?.replace(/ \(.*\)$/, '');
  const machine = benchmarkMachine();
  const benchmark: BenchmarkRecord = {
    runtime: result.runtime,
    loadMs: result.runs[0]?.loadMs ?? 0,
    runs: result.runs.map(({ threads, loadMs, medianMs, p90Ms, minMs, iterations, timedIn, peakRssDeltaBytes }) => ({
      threads,
      loadMs,
      medianMs,
      p90Ms,
      minMs,
      iterations,
      timedIn,
      peakRssMb: peakRssDeltaBytes / MIB,
    })),
    peakRssMb: Math.max(0, ...result.runs.map((run) => run.peakRssDeltaBytes)) / MIB,
    peakRssSource,
    warmup: result.warmup,
    host: describeMachine(machine),
    machine,
    ...(runtimeVersion ? { runtimeVersion } : {}),
  };
  await writeStepFile(ctx.outDir, BENCHMARK_FILE, benchmark);
  for (const run of benchmark.runs)
    ctx.log(
      `${target} ${result.runtime}${runtimeVersion ? ` ${runtimeVersion}` : ''} threads=${run.threads}: median ${run.medianMs.toFixed(3)} ms, p90 ${run.p90Ms.toFixed(3)} ms, load ${run.loadMs.toFixed(1)} ms, peak memory +${(run.peakRssMb ?? 0).toFixed(1)} MiB (${peakRssSource})`,
    );
  ctx.log(`host: ${benchmark.host}`);
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
