import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ComparedOutputs } from './compare.js';
import { ValidateError } from './errors.js';
import { readNpy, writeNpy } from './npy.js';
import type { QuantizationParams } from './transforms.js';
import { replaceAtomically } from '../util/atomic-write.js';

/** index.json of a saved outputs folder. */
interface OutputsIndex {
  format: 'edgezoo-outputs/1';
  outputs: Array<{ name: string; file: string; layout?: string; quantization?: QuantizationParams }>;
}

/**
 * Saves outputs (the reference model's, kept under artifacts/references/ and reused by every
 * artifact's validate step) as `<index>.npy` files plus `index.json` keeping names, order,
 * layouts and quantisation. Written into a temporary folder, then renamed into `dir`.
 */
export async function saveOutputs(dir: string, outputs: ComparedOutputs): Promise<void> {
  await mkdir(path.dirname(dir), { recursive: true });
  await replaceAtomically(dir, async (temporary) => {
    await mkdir(temporary, { recursive: true });
    const index: OutputsIndex = { format: 'edgezoo-outputs/1', outputs: [] };
    let position = 0;
    for (const [name, output] of Object.entries(outputs)) {
      const file = `${position++}.npy`;
      await writeNpy(path.join(temporary, file), output.tensor);
      index.outputs.push({
        name,
        file,
        ...(output.layout ? { layout: output.layout } : {}),
        ...(output.quantization ? { quantization: output.quantization } : {}),
      });
    }
    await writeFile(path.join(temporary, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
  });
}

/** Loads outputs written by `saveOutputs`. */
export async function loadOutputs(dir: string): Promise<ComparedOutputs> {
  let index: OutputsIndex;
  try {
    index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8')) as OutputsIndex;
  } catch (error) {
    throw new ValidateError('OUTPUTS_UNREADABLE', `${dir}: no readable index.json of saved outputs`, { cause: error });
  }
  if (index.format !== 'edgezoo-outputs/1')
    throw new ValidateError('OUTPUTS_UNREADABLE', `${dir}: unknown outputs format ${String(index.format)}`);
  const outputs: ComparedOutputs = {};
  for (const entry of index.outputs) {
    if (path.basename(entry.file) !== entry.file)
      throw new ValidateError('OUTPUTS_UNREADABLE', `${dir}: output file '${entry.file}' must stay in the folder`);
    const tensor = await readNpy(path.join(dir, entry.file));
    outputs[entry.name] = {
      tensor,
      ...(entry.layout ? { layout: entry.layout } : {}),
      ...(entry.quantization ? { quantization: entry.quantization } : {}),
    };
  }
  return outputs;
}
