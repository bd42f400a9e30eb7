import * as ort from 'onnxruntime-node';
import { RunnerError } from '../errors.js';
import type { Dtype, Tensor } from '../tensor.js';
import type { ModelRunner, RunnerOptions, TensorInfo } from './runner.js';

const ORT_TO_DTYPE: Readonly<Record<string, Dtype>> = {
  float32: 'float32',
  float16: 'float16',
  int64: 'int64',
  int32: 'int32',
  int16: 'int16',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
};

/**
 * The session options of every onnxruntime-node session edgezoo opens, in process or in a
 * benchmark's own process (src/toolchain/ort-benchmark.ts): JSON, so they can cross to it.
 */
export function onnxSessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    // One graph at a time: inter-op parallelism would only add threads beyond `threads`.
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
}

/** Runs ONNX models in this process with onnxruntime-node (CPU execution provider). */
export class OnnxRuntimeRunner implements ModelRunner {
  readonly runtime = 'onnxruntime' as const;
  private session: ort.InferenceSession | undefined;
  private readonly threads: number;
  private modelPath = '';

  constructor(options: RunnerOptions = {}) {
    this.threads = options.threads ?? 1;
  }

  async load(modelPath: string): Promise<void> {
    this.modelPath = modelPath;
    try {
      this.session = await ort.InferenceSession.create(modelPath, onnxSessionOptions(this.threads));
    } catch (error) {
      throw new RunnerError(`onnxruntime cannot load ${modelPath}: ${firstLine(error)}`, { cause: error });
    }
  }

  private get loaded(): ort.InferenceSession {
    if (!this.session) throw new RunnerError('the ONNX model is not loaded (call load first)');
    return this.session;
  }

  inputs(): TensorInfo[] {
    return this.loaded.inputMetadata.map((meta) => describe(meta, this.modelPath));
  }

  outputs(): TensorInfo[] {
    return this.loaded.outputMetadata.map((meta) => describe(meta, this.modelPath));
  }

  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const session = this.loaded;
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, tensor] of Object.entries(feeds)) {
      // bool tensors travel as 0/1 bytes in both worlds.
      ortFeeds[name] = new ort.Tensor(tensor.dtype, tensor.data as never, tensor.dims);
    }
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await session.run(ortFeeds);
    } catch (error) {
      throw new RunnerError(`onnxruntime failed to run ${this.modelPath}: ${firstLine(error)}`, { cause: error });
    }
    const outputs: Record<string, Tensor> = {};
    for (const name of session.outputNames) {
      const value = results[name];
      if (!value) continue;
      const dtype = ORT_TO_DTYPE[value.type];
      if (!dtype)
        throw new RunnerError(
          `${this.modelPath}: output '${name}' has type ${value.type}, which validation does not handle`,
        );
      // Copy out of onnxruntime's buffers so the tensor outlives the session.
      const data = value.data.slice() as Tensor['data'];
      outputs[name] = { dtype, dims: [...value.dims], data } as Tensor;
      value.dispose();
    }
    return outputs;
  }

  async dispose(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    await session?.release();
  }
}

function describe(meta: ort.InferenceSession.ValueMetadata, modelPath: string): TensorInfo {
  if (!meta.isTensor)
    throw new RunnerError(`${modelPath}: '${meta.name}' is not a tensor; validation handles tensors only`);
  const dtype = ORT_TO_DTYPE[meta.type];
  if (!dtype)
    throw new RunnerError(`${modelPath}: '${meta.name}' has type ${meta.type}, which validation does not handle`);
  return {
    name: meta.name,
    dims: meta.shape.map((dim) => (typeof dim === 'number' && dim >= 0 ? dim : String(dim))),
    dtype,
  };
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0] ?? message;
}
