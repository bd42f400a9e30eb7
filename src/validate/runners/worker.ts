import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RunnerError } from '../errors.js';
import { readNpy, writeNpy } from '../npy.js';
import type { Dtype, Tensor } from '../tensor.js';
import type { QuantizedDtype } from '../transforms.js';
import {
  MODEL_OPS,
  type ModelOpName,
  type OpReply,
  type OpRequest,
  type TorchSource,
  type WireTensorInfo,
} from '../../toolchain/protocol/index.js';
import type { ModelRunner, RunnerOptions, RuntimeName, TensorInfo } from './runner.js';

/**
 * What the worker-backed runners need from the toolchain's long-lived Python worker: the model
 * ops of the worker protocol (src/toolchain/protocol/ops.ts: validate.load, validate.run,
 * validate.benchmark, validate.release), typed by op name, a rejected promise when one failed.
 * A WorkerSession (src/toolchain/session.ts) is one, and reloads a model its worker lost.
 */
export interface RunnerWorker {
  call<N extends ModelOpName>(op: N, args: OpRequest<N>): Promise<OpReply<N>>;
}

type LoadResult = OpReply<'validate.load'>;

/** Timings measured by the Python side around the runtime's own invoke (IPC excluded). */
export type WorkerBenchmarkReply = OpReply<'validate.benchmark'>;

const KNOWN_DTYPES = new Set<Dtype>(['float32', 'float16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool']);

/** Options of `WorkerModelRunner`. */
export interface WorkerRunnerOptions extends RunnerOptions {
  /**
   * PyTorch only, and required there: the model code, weights and output names; `load(path)` then
   * names it only in messages.
   */
  torchSource?: TorchSource;
  /** Where tensors are exchanged as .npy files; default a fresh folder in the OS temp dir. */
  exchangeDir?: string;
}

/**
 * A model run by the Python worker: LiteRT for .tflite, OpenVINO for IR, PyTorch for sources.
 * Tensors cross as .npy files in a private folder; quantisation and layouts stay on this side.
 */
export class WorkerModelRunner implements ModelRunner {
  private loaded: LoadResult | undefined;
  private folder: string | undefined;
  private runCount = 0;

  constructor(
    readonly runtime: Exclude<RuntimeName, 'onnxruntime'>,
    private readonly worker: RunnerWorker,
    private readonly options: WorkerRunnerOptions = {},
  ) {}

  /** Seconds the runtime took to load the model, and the RSS it added, as the worker measured. */
  get loadFigures(): { loadSeconds: number; rssDeltaBytes: number } | undefined {
    return this.loaded && { loadSeconds: this.loaded.loadSeconds, rssDeltaBytes: this.loaded.rssDeltaBytes };
  }

  async load(modelPath: string): Promise<void> {
    let model: string | TorchSource = path.resolve(modelPath);
    if (this.runtime === 'pytorch') {
      if (!this.options.torchSource)
        throw new RunnerError(`pytorch cannot load ${modelPath}: no torch source given (caller bug)`);
      model = this.options.torchSource;
    }
    this.folder = this.options.exchangeDir ?? (await mkdtemp(path.join(os.tmpdir(), `edgezoo-${this.runtime}-`)));
    const args: OpRequest<'validate.load'> = { runtime: this.runtime, model, threads: this.options.threads ?? 1 };
    try {
      this.loaded = await this.worker.call(MODEL_OPS.load, args);
    } catch (error) {
      throw new RunnerError(`${this.runtime} cannot load ${modelPath}: ${messageOf(error)}`, { cause: error });
    }
  }

  private requireLoaded(): LoadResult {
    if (!this.loaded) throw new RunnerError(`the ${this.runtime} model is not loaded (call load first)`);
    return this.loaded;
  }

  inputs(): TensorInfo[] {
    return this.requireLoaded().inputs.map(toTensorInfo);
  }

  outputs(): TensorInfo[] {
    return this.requireLoaded().outputs.map(toTensorInfo);
  }

  /** Writes the feeds as .npy files in the exchange folder and returns {name: path}. */
  private async writeFeeds(feeds: Record<string, Tensor>, tag: string): Promise<Record<string, string>> {
    const files: Record<string, string> = {};
    let index = 0;
    for (const [name, tensor] of Object.entries(feeds)) {
      // Index-based file names: tensor names such as `serving_default_x:0` are poor file names.
      const file = path.join(this.folder!, `${tag}-in-${index++}.npy`);
      await writeNpy(file, tensor);
      files[name] = file;
    }
    return files;
  }

  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const { handle } = this.requireLoaded();
    const tag = `run${this.runCount++}`;
    const inputs = await this.writeFeeds(feeds, tag);
    const outputDir = path.join(this.folder!, `${tag}-out`);
    let reply: OpReply<'validate.run'>;
    try {
      reply = await this.worker.call(MODEL_OPS.run, { handle, inputs, outputDir });
    } catch (error) {
      throw new RunnerError(`${this.runtime} failed to run the model: ${messageOf(error)}`, { cause: error });
    }
    const outputs: Record<string, Tensor> = {};
    for (const output of reply.outputs) outputs[output.name] = await readNpy(output.npy);
    await Promise.all([
      ...Object.values(inputs).map((file) => rm(file, { force: true })),
      rm(outputDir, { recursive: true, force: true }),
    ]);
    return outputs;
  }

  /** Times the runtime's invoke in the worker: `warmup` untimed runs, then `iterations` timed ones. */
  async benchmark(
    feeds: Record<string, Tensor>,
    options: { warmup: number; iterations: number },
  ): Promise<WorkerBenchmarkReply> {
    const { handle } = this.requireLoaded();
    const inputs = await this.writeFeeds(feeds, `bench${this.runCount++}`);
    try {
      return await this.worker.call(MODEL_OPS.benchmark, {
        handle,
        inputs,
        warmup: options.warmup,
        iterations: options.iterations,
      });
    } catch (error) {
      throw new RunnerError(`${this.runtime} failed to benchmark the model: ${messageOf(error)}`, { cause: error });
    } finally {
      await Promise.all(Object.values(inputs).map((file) => rm(file, { force: true })));
    }
  }

  async dispose(): Promise<void> {
    const loaded = this.loaded;
    this.loaded = undefined;
    if (loaded) await this.worker.call(MODEL_OPS.release, { handle: loaded.handle }).catch(() => undefined);
    if (this.folder && !this.options.exchangeDir) await rm(this.folder, { recursive: true, force: true });
    else if (this.folder) {
      // A caller-owned folder: remove only what this runner wrote.
      for (const name of await readdir(this.folder).catch(() => [] as string[])) {
        if (/^(run|bench)\d+-/.test(name)) await rm(path.join(this.folder, name), { recursive: true, force: true });
      }
    }
    this.folder = undefined;
  }
}

function toTensorInfo(wire: WireTensorInfo): TensorInfo {
  const dtype = wire.dtype as Dtype;
  if (!KNOWN_DTYPES.has(dtype))
    throw new RunnerError(`tensor '${wire.name}' has type ${wire.dtype}, which validation does not handle`);
  const info: TensorInfo = { name: wire.name, dims: wire.dims, dtype };
  if (wire.quantization && (dtype === 'int8' || dtype === 'uint8' || dtype === 'int16')) {
    info.quantization = {
      dtype: dtype as QuantizedDtype,
      scale: wire.quantization.scale,
      zeroPoint: wire.quantization.zeroPoint,
    };
    if (wire.quantization.axis !== undefined) info.quantization.axis = wire.quantization.axis;
  }
  return info;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
