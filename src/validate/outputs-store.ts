import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { ComparedOutputs } from './compare.js';
import { ValidateError } from './errors.js';
import { readNpy, writeNpy } from './npy.js';
import type { QuantizationParams } from './transforms.js';

const quantizationSchema: z.ZodType<QuantizationParams> = z.object({
  dtype: z.enum(['int8', 'uint8', 'int16']),
  scale: z.array(z.number()),
  zeroPoint: z.array(z.number()),
  axis: z.number().int().optional(),
});

/** index.json of a saved outputs folder. */
const outputsIndexSchema = z.object({
  format: z.literal('edgezoo-outputs/1'),
  outputs: z.array(
    z.object({
      name: z.string(),
      // A file of the folder itself.
      file: z.string().refine((file) => path.basename(file) === file && file !== '..', 'must stay in the folder'),
      layout: z.string().optional(),
      quantization: quantizationSchema.optional(),
    }),
  ),
});
type OutputsIndex = z.infer<typeof outputsIndexSchema>;

/**
 * Saves outputs (the reference's, computed once per model by the reference step and read by
 * every artifact's validate step) into `dir` as `<index>.npy` files plus `index.json` keeping
 * names, order, layouts and quantisation. `dir` is a step's output folder: the cache makes the
 * whole folder appear at once, so the files are written in place.
 */
export async function saveOutputs(dir: string, outputs: ComparedOutputs): Promise<void> {
  await mkdir(dir, { recursive: true });
  const index: OutputsIndex = { format: 'edgezoo-outputs/1', outputs: [] };
  let position = 0;
  for (const [name, output] of Object.entries(outputs)) {
    const file = `${position++}.npy`;
    await writeNpy(path.join(dir, file), output.tensor);
    index.outputs.push({
      name,
      file,
      ...(output.layout ? { layout: output.layout } : {}),
      ...(output.quantization ? { quantization: output.quantization } : {}),
    });
  }
  await writeFile(path.join(dir, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
}

/** Loads outputs written by `saveOutputs`. */
export async function loadOutputs(dir: string): Promise<ComparedOutputs> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8'));
  } catch (error) {
    throw new ValidateError('OUTPUTS_UNREADABLE', `${dir}: no readable index.json of saved outputs`, { cause: error });
  }
  const parsed = outputsIndexSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ValidateError(
      'OUTPUTS_UNREADABLE',
      `${dir}/index.json: not an outputs index${issue ? ` (${issue.path.join('.') || 'root'}: ${issue.message})` : ''}`,
    );
  }
  const outputs: ComparedOutputs = {};
  for (const entry of parsed.data.outputs) {
    const tensor = await readNpy(path.join(dir, entry.file));
    outputs[entry.name] = {
      tensor,
      ...(entry.layout ? { layout: entry.layout } : {}),
      ...(entry.quantization ? { quantization: entry.quantization } : {}),
    };
  }
  return outputs;
}
