/**
 * A ModelRunner that imports its runtime only when a model is loaded, so the catalogue can name
 * every runtime without loading any (onnxruntime-node alone takes a noticeable part of a
 * `edgezoo check`).
 */
import type { ModelRunner, RuntimeName, TensorInfo } from '../validate/runners/runner.js';
import type { Tensor } from '../validate/tensor.js';

export class LazyRunner implements ModelRunner {
  private runner: ModelRunner | undefined;

  constructor(
    readonly runtime: RuntimeName,
    private readonly create: () => Promise<ModelRunner>,
  ) {}

  async load(modelPath: string): Promise<void> {
    this.runner = await this.create();
    await this.runner.load(modelPath);
  }

  inputs(): TensorInfo[] {
    return this.loaded().inputs();
  }

  outputs(): TensorInfo[] {
    return this.loaded().outputs();
  }

  run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    return this.loaded().run(feeds);
  }

  async dispose(): Promise<void> {
    await this.runner?.dispose();
  }

  private loaded(): ModelRunner {
    if (!this.runner) throw new Error(`${this.runtime} runner used before load() (caller bug)`);
    return this.runner;
  }
}
