/**
 * The prepare step: the source model as one static-shaped, simplified fp32 ONNX model with
 * edgezoo metadata (`model.onnx`) plus `prepare.json` (its inputs and outputs with layouts).
 * PyTorch sources are exported with torch.onnx.export, TFLite sources go through tf2onnx first.
 * Reads only its params and the fetch step's folder (what the fingerprint covers).
 */
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inspectModel, likelyImageLayout, loadModel, saveModel, setMetadata } from '../../formats/onnx/index.js';
import type { PlannedStepOf, SourceParams } from '../../plan/index.js';
import type { OutputSpec, ParameterReplacement } from '../../recipe/types.js';
import type { ConvertJob, PreparedSignature, TorchSource } from '../../toolchain/backends/index.js';
import { EdgezooError } from '../../errors.js';
import { replacementFileSchema } from '../../recipe/schema.js';
import { defaultLayout } from '../../toolchain/backends/layouts.js';
import { backendToolVersions, provenanceProps } from '../../toolchain/backends/provenance.js';
import { PREPARE_FILE, writeStepFile } from '../step-files.js';
import type { StepContext, StepResult } from '../types.js';
import { FETCHED_FILE_NAMES } from './fetch.js';

/** The prepared model in the prepare step's output folder (beside prepare.json). */
export const PREPARED_MODEL_FILE = 'model.onnx';

/** The sha256 that identifies a source (the weights' for PyTorch; 'none' when the factory loads its own). */
export function sourceSha256(source: SourceParams): string {
  return source.kind === 'pytorch' ? (source.weightsSha256 ?? 'none') : source.sha256;
}

/**
 * How the torch ops build a PyTorch source and name its outputs, from a step's params and the
 * fetch step's folder. Every torch op (the export, litert-torch, the reference run) gets the
 * recipe's output names from here and names the outputs with them the same way
 * (torch_source.named_outputs), so the artifacts' outputs are called what the reference's are.
 */
export function torchSourceOf(
  params: { source: SourceParams; outputs: readonly OutputSpec[] },
  projectRoot: string,
  fetchDir: string | undefined,
): TorchSource {
  const source = params.source;
  if (source.kind !== 'pytorch') throw new Error(`torchSourceOf(${source.kind}) (caller bug)`);
  return {
    file: path.join(projectRoot, source.factory.file),
    callable: source.factory.function,
    kwargs: source.kwargs,
    ...(fetchDir ? { stateDict: path.join(fetchDir, FETCHED_FILE_NAMES.pytorch) } : {}),
    ...(params.outputs.length > 0 ? { outputNames: params.outputs.map((output) => output.name) } : {}),
  };
}

/** The prepare step runner (see the module comment). */
export async function runPrepareStep(step: PlannedStepOf<'prepare'>, ctx: StepContext): Promise<StepResult> {
  const params = step.params;
  const fetchDir = step.deps.length > 0 ? ctx.inputs[step.deps[0]!]?.dir : undefined;
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-prepare-'));
  try {
    const replacements =
      params.replacements === null
        ? undefined
        : params.replacements.kind === 'inline'
          ? params.replacements.value
          : await readReplacements(path.join(ctx.projectRoot, params.replacements.path));
    const backends = ctx.catalogue.prepareChain(params.source.kind);
    let current: string | undefined =
      params.source.kind === 'pytorch' ? undefined : path.join(fetchDir!, FETCHED_FILE_NAMES[params.source.kind]);
    // The one note a prepare backend leaves (onnx-prepare): the replacements it applied to the graph.
    let replacementsApplied: string[] | undefined;
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
        strategy: backend.strategies[0],
        ...(current ? { inputFile: current } : {}),
        ...(params.source.kind === 'pytorch' ? { torchSource: torchSourceOf(params, ctx.projectRoot, fetchDir) } : {}),
        ...(last && replacements ? { replacements } : {}),
        ...(last && params.dequantize ? { dequantize: true } : {}),
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
      const applied = output.notes?.replacementsApplied;
      if (Array.isArray(applied)) replacementsApplied = applied.map(String);
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
    await writeStepFile(ctx.outDir, PREPARE_FILE, {
      ...prepared,
      toolVersions,
      ...(replacementsApplied ? { replacementsApplied } : {}),
    });
    const bytes = (await stat(modelPath)).size;
    ctx.log(
      `[edgezoo] prepared ${PREPARED_MODEL_FILE}: ${bytes} bytes, ${summary.nodeCount} nodes, inputs ${prepared.inputs.map((i) => `${i.name}${JSON.stringify(i.shape)}`).join(', ')}`,
    );
    return { status: 'ok', figures: { bytes, nodes: summary.nodeCount } };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * A recipe's replacement JSON file. Its shape was checked when the recipe was loaded (the path
 * form is checked for JSON syntax only there, so a broken file is reported here).
 */
async function readReplacements(file: string): Promise<ParameterReplacement> {
  let parsed: ReturnType<typeof replacementFileSchema.safeParse>;
  try {
    parsed = replacementFileSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
  } catch (error) {
    throw new EdgezooError('REPLACEMENTS_INVALID', `${file}: not JSON`, { cause: error });
  }
  if (!parsed.success)
    throw new EdgezooError(
      'REPLACEMENTS_INVALID',
      `${file}: not an onnx2tf parameter-replacement file: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  return parsed.data;
}
