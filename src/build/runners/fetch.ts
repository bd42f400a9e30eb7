import { chmod, constants, copyFile } from 'node:fs/promises';
import path from 'node:path';
import { artifactPaths } from '../../paths.js';
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
  const { fetchFile } = await import('../../fetch/index.js');
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
  return { status: 'ok', figures: { sha256: fetched.sha256, bytes: fetched.bytes } };
};
