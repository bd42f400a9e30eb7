/**
 * The prepare step: the source model as one static-shaped, simplified fp32 ONNX model with
 * edgezoo metadata (`model.onnx`) plus `prepare.json` (its inputs and outputs with layouts).
 * PyTorch sources are exported with torch.onnx.export, TFLite sources go through tf2onnx first.
 * Reads only its params and the fetch step's folder (what the fingerprint covers).
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inspectModel, likelyImageLayout, loadModel, saveModel, setMetadata } from '../../formats/onnx/index.js';
import type { PlannedStep } from '../../plan/types.js';
import type { InputSpec, OutputSpec, ParameterReplacement } from '../../recipe/types.js';
import {
  prepareBackends,
  type ConvertJob,
  type ModelKind,
  type PreparedSignature,
  type TorchSource,
} from '../../toolchain/backends/index.js';
import { defaultLayout } from '../../toolchain/backends/layouts.js';
import { backendToolVersions, provenanceProps } from '../../toolchain/backends/provenance.js';
import type { StepContext, StepResult } from '../types.js';
import { FETCHED_FILE_NAMES } from './fetch.js';

/** The prepare step's params (src/plan/plan.ts). */
export interface PrepareParams {
  model: string;
  source: SourceParams;
  inputs: InputSpec[];
  outputs: OutputSpec[];
  opset: number;
  replacements: { kind: 'path'; path: string } | { kind: 'inline'; value: ParameterReplacement } | null;
  provenance: { version: string; license: string };
}

/** The source as plan.ts's sourceParams gives it. */
export type SourceParams =
  | {
      kind: 'pytorch';
      factory: { module: string; function: string; isFile: boolean };
      kwargs: Record<string, unknown>;
      weightsSha256: string | null;
    }
  | { kind: 'onnx' | 'tflite'; sha256: string };

/** Files of the prepare step's output folder. */
export const PREPARED_MODEL_FILE = 'model.onnx';
export const PREPARE_JSON_FILE = 'prepare.json';

/** The sha256 that identifies a source (the weights' for PyTorch; 'none' when the factory loads its own). */
export function sourceSha256(source: SourceParams): string {
  return source.kind === 'pytorch' ? (source.weightsSha256 ?? 'none') : source.sha256;
}

/** How the torch ops build a PyTorch source, from the params and the fetch step's folder. */
export function torchSourceOf(source: SourceParams, projectRoot: string, fetchDir: string | undefined): TorchSource {
  if (source.kind !== 'pytorch') throw new Error(`torchSourceOf(${source.kind}) (caller bug)`);
  return {
    ...(source.factory.isFile
      ? { file: path.join(projectRoot, source.factory.module) }
      : { module: source.factory.module }),
    callable: source.factory.function,
    kwargs: source.kwargs,
    ...(fetchDir ? { stateDict: path.join(fetchDir, FETCHED_FILE_NAMES.pytorch) } : {}),
  };
}

export async function runPrepareStep(step: PlannedStep, ctx: StepContext): Promise<StepResult> {
  const params = step.params as unknown as PrepareParams;
  const fetchDir = step.deps.length > 0 ? ctx.inputs[step.deps[0]!]?.dir : undefined;
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-prepare-'));
  try {
    const replacements =
      params.replacements === null
        ? undefined
        : params.replacements.kind === 'inline'
          ? params.replacements.value
          : (JSON.parse(
              await readFile(path.join(ctx.projectRoot, params.replacements.path), 'utf8'),
            ) as ParameterReplacement);
    const backends = prepareBackends(params.source.kind as ModelKind);
    let current: string | undefined =
      params.source.kind === 'pytorch' ? undefined : path.join(fetchDir!, FETCHED_FILE_NAMES[params.source.kind]);
    let notes: Record<string, unknown> = {};
    for (const [index, backend] of backends.entries()) {
      const last = index === backends.length - 1;
      const outDir = last ? ctx.outDir : path.join(workDir, `${index}-${backend.name}`);
      await mkdir(outDir, { recursive: true });
      const scratch = path.join(workDir, `${index}-${backend.name}-work`);
      await mkdir(scratch, { recursive: true });
      const job: ConvertJob = {
        stepId: step.id,
        model: params.model,
        precision: 'fp32',
        ...(current ? { inputFile: current } : {}),
        ...(params.source.kind === 'pytorch'
          ? { torchSource: torchSourceOf(params.source, ctx.projectRoot, fetchDir) }
          : {}),
        ...(last && replacements ? { replacements } : {}),
        inputs: params.inputs,
        outputs: params.outputs,
        opset: params.opset,
        outDir,
        workDir: scratch,
        log: ctx.log,
        signal: ctx.signal,
      };
      ctx.log(`[edgezoo] prepare: ${backend.name} (${backend.from} -> ${backend.to})`);
      const output = await backend.convert(job);
      if (output.notes) notes = { ...notes, ...output.notes };
      current = path.join(outDir, output.primary);
    }

    const modelPath = path.join(ctx.outDir, PREPARED_MODEL_FILE);
    const model = loadModel(modelPath);
    const summary = inspectModel(model);
    const recipeInputs = new Map(params.inputs.map((input) => [input.name, input]));
    const recipeOutputs = new Map(params.outputs.map((output) => [output.name, output]));
    const prepared: PreparedSignature = {
      inputs: summary.inputs.map((input) => ({
        name: input.name,
        dtype: input.dtype,
        shape: input.shape ?? [],
        layout: recipeInputs.get(input.name)?.layout ?? input.likelyLayout ?? defaultLayout(input.shape?.length ?? 0),
      })),
      outputs: summary.outputs.map((output) => ({
        name: output.name,
        dtype: output.dtype,
        shape: output.shape ?? [],
        layout:
          recipeOutputs.get(output.name)?.layout ??
          likelyImageLayout(output.shape) ??
          defaultLayout(output.shape?.length ?? 0),
      })),
    };
    const layouts = Object.fromEntries([...prepared.inputs, ...prepared.outputs].map((t) => [t.name, t.layout!]));
    const toolVersions = await backendToolVersions(backends);
    saveModel(
      setMetadata(
        model,
        provenanceProps({
          name: params.model,
          version: params.provenance.version,
          license: params.provenance.license,
          sourceSha256: sourceSha256(params.source),
          recipeFingerprint: step.fingerprint,
          toolVersions,
          layouts,
        }),
      ),
      modelPath,
    );
    await writeFile(
      path.join(ctx.outDir, PREPARE_JSON_FILE),
      `${JSON.stringify({ ...prepared, toolVersions, ...notes }, null, 2)}\n`,
    );
    const bytes = (await stat(modelPath)).size;
    ctx.log(
      `[edgezoo] prepared ${PREPARED_MODEL_FILE}: ${bytes} bytes, ${summary.nodeCount} nodes, inputs ${prepared.inputs.map((i) => `${i.name}${JSON.stringify(i.shape)}`).join(', ')}`,
    );
    return { status: 'ok', figures: { bytes, nodes: summary.nodeCount } };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
