/**
 * `build-status.json` in the zoo folder: how the last build of each model version ended. The
 * build writes it; `publish` reads it to refuse a version whose last build failed (its folder
 * may hold an older good build, or a build with targets missing), and `zoo prune` drops the
 * entries of versions it removes.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { EdgezooError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { stableJson } from './stable-json.js';

export const BUILD_STATUS_FILE = 'build-status.json';
export const BUILD_STATUS_SCHEMA = 'edgezoo.build-status/1';

const buildStatusSchema = z.object({
  schema: z.literal(BUILD_STATUS_SCHEMA),
  /** By `name@version`. */
  versions: z.record(
    z.string(),
    z.object({
      ok: z.boolean(),
      at: z.string(),
      /** One line per root cause, when it failed. */
      failures: z.array(z.string()),
    }),
  ),
});
export type BuildStatus = z.infer<typeof buildStatusSchema>;
export type VersionBuildStatus = BuildStatus['versions'][string];

/** The zoo's build record; empty when the zoo has none (built before it was kept, or copied). */
export async function readBuildStatus(zooDir: string): Promise<BuildStatus> {
  const file = path.join(zooDir, BUILD_STATUS_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { schema: BUILD_STATUS_SCHEMA, versions: {} };
    throw error;
  }
  try {
    return buildStatusSchema.parse(JSON.parse(text));
  } catch (error) {
    throw new EdgezooError('ZOO_INVALID', `${file} is not a valid ${BUILD_STATUS_SCHEMA} record`, {
      hint: 'build again to rewrite it',
      cause: error,
    });
  }
}

/**
 * Records how the builds of some versions ended, keeping the entries of the others. `undefined`
 * removes a version's entry.
 */
export async function updateBuildStatus(
  zooDir: string,
  updates: Record<string, VersionBuildStatus | undefined>,
): Promise<void> {
  const status = await readBuildStatus(zooDir);
  for (const [key, value] of Object.entries(updates)) {
    if (value === undefined) delete status.versions[key];
    else status.versions[key] = value;
  }
  await writeFileAtomic(path.join(zooDir, BUILD_STATUS_FILE), stableJson(status));
}
