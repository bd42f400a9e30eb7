import { chmod, constants, copyFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { artifactPaths } from '../../paths.js';
import { EdgezooError } from '../../errors.js';
import type { ExternalDataFile } from '../../recipe/types.js';
import type { StepRunner } from '../types.js';

/** File name of the fetched file inside the fetch step's outputs, by what it is. */
export const FETCHED_FILE_NAMES = { onnx: 'source.onnx', tflite: 'source.tflite', pytorch: 'weights.pt' } as const;

/**
 * The fetch step: brings the recipe's source file (or PyTorch weights) through src/fetch,
 * verified by sha256, and copies it into the step's outputs as `source.onnx`,
 * `source.tflite` or `weights.pt`.
 */
export const runFetchStep: StepRunner<'fetch'> = async (step, ctx) => {
  // Imported lazily: the build engine and its tests do not need the download client loaded.
  const { fetchFile, describeFileLocation } = await import('../../fetch/index.js');
  const { file, sourceKind } = step.params;
  let lastReported = 0;
  const fetched = await fetchFile(file, {
    projectRoot: ctx.projectRoot,
    downloadsDir: artifactPaths(ctx.projectRoot).downloads,
    signal: ctx.signal,
    onLockWait: ctx.log,
    onProgress: (progress) => {
      const now = Date.now();
      if (now - lastReported < 1000) return;
      lastReported = now;
      ctx.log(`downloaded ${JSON.stringify(progress)}`);
    },
  });
  const target = path.join(ctx.outDir, FETCHED_FILE_NAMES[sourceKind]);
  await copyFile(fetched.path, target, constants.COPYFILE_FICLONE);
  await chmod(target, 0o644);
  ctx.log(
    `fetched ${fetched.bytes} bytes, sha256 ${fetched.sha256}${fetched.fromCache ? ' (from the download cache)' : ''}`,
  );
  // ONNX external data: each listed file, verified like the model, beside it under its name.
  for (const data of file.externalData ?? []) {
    const fetchedData = await fetchFile(data.file, {
      projectRoot: ctx.projectRoot,
      downloadsDir: artifactPaths(ctx.projectRoot).downloads,
      signal: ctx.signal,
      onLockWait: ctx.log,
    });
    const dataTarget = path.join(ctx.outDir, ...data.name.split('/'));
    await mkdir(path.dirname(dataTarget), { recursive: true });
    await copyFile(fetchedData.path, dataTarget, constants.COPYFILE_FICLONE);
    await chmod(dataTarget, 0o644);
    ctx.log(`fetched external data ${data.name}: ${fetchedData.bytes} bytes, sha256 ${fetchedData.sha256}`);
  }
  if (sourceKind === 'onnx')
    await checkExternalDataListed(target, describeFileLocation(file.location), file.externalData ?? []);
  return { status: 'ok', figures: { sha256: fetched.sha256, bytes: fetched.bytes } };
};

/**
 * Refuses an ONNX model that stores tensors in files the recipe does not list: they were not
 * fetched (and not checked against a sha256), so the build could not read them, or would read
 * whatever lies beside the model.
 */
async function checkExternalDataListed(
  modelPath: string,
  where: string,
  listed: readonly ExternalDataFile[],
): Promise<void> {
  const { decodeModel, externalDataLocations, OnnxFormatError } = await import('../../formats/onnx/index.js');
  let model: ReturnType<typeof decodeModel>;
  try {
    model = decodeModel(await readFile(modelPath));
  } catch (error) {
    if (error instanceof OnnxFormatError) throw new OnnxFormatError(error.code, `${where}: ${error.message}`);
    throw error;
  }
  const names = new Set(listed.map((data) => data.name));
  const missing = externalDataLocations(model).filter((location) => !names.has(location.replace(/^\.\//, '')));
  if (missing.length > 0)
    throw new EdgezooError(
      'ONNX_EXTERNAL_DATA_UNLISTED',
      `${where} stores tensors in ${missing.map((name) => `"${name}"`).join(', ')}, which the recipe does not list`,
      {
        hint: `list each under source.onnx.external_data with its sha256, e.g. external_data: [{ name: ${missing[0]}, path: models/<name>/${missing[0]}, sha256: ... }]`,
      },
    );
}
