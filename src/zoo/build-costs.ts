/**
 * `build-costs.json` in the zoo folder: how many seconds each step took the last time it ran
 * (steps served from a cache are not timed again). `edgezoo build --shard K/N` balances the
 * shards by it; `zoo merge` joins the parts' records, so the merged zoo carries the costs of the
 * whole build for the next one. A record of the build, never published.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { EdgezooError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { stableJson } from './stable-json.js';

export const BUILD_COSTS_FILE = 'build-costs.json';
export const BUILD_COSTS_SCHEMA = 'edgezoo.build-costs/1';

const buildCostsSchema = z.object({
  schema: z.literal(BUILD_COSTS_SCHEMA),
  /** Seconds by step id (`mobilenet-v2/convert/tflite/int8`). */
  steps: z.record(z.string(), z.number().nonnegative()),
});
export type BuildCosts = z.infer<typeof buildCostsSchema>;

/** Reads a costs file; empty when there is none. A file that is not one is an error naming it. */
export async function readBuildCostsFile(file: string): Promise<BuildCosts> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { schema: BUILD_COSTS_SCHEMA, steps: {} };
    throw error;
  }
  try {
    return buildCostsSchema.parse(JSON.parse(text));
  } catch (error) {
    throw new EdgezooError('ZOO_INVALID', `${file} is not a valid ${BUILD_COSTS_SCHEMA} record`, {
      hint: 'delete it: the next build records the costs again',
      cause: error,
    });
  }
}

/** The zoo's costs record (empty when it has none). */
export function readBuildCosts(zooDir: string): Promise<BuildCosts> {
  return readBuildCostsFile(path.join(zooDir, BUILD_COSTS_FILE));
}

/** Records the seconds of the steps that ran, keeping the others' earlier figures. */
export async function updateBuildCosts(zooDir: string, seconds: Readonly<Record<string, number>>): Promise<void> {
  if (Object.keys(seconds).length === 0) return;
  const costs = await readBuildCosts(zooDir);
  for (const [step, value] of Object.entries(seconds)) costs.steps[step] = Math.round(value * 1000) / 1000;
  await writeFileAtomic(path.join(zooDir, BUILD_COSTS_FILE), stableJson(costs));
}
