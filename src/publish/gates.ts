/**
 * What `publish` refuses to release. A published version is immutable, so a mistake released
 * once is there for good: a version with no artifact (nothing to download, and the number is
 * taken), a version whose last build failed (its folder holds an older or partial build), and a
 * version no recipe declares any more (left behind by a deleted recipe or a version bump).
 */
import { buildIndex, readBuildStatus } from '../zoo/index.js';

export interface PublishRefusal {
  name: string;
  version: string;
  kind: 'no-artifacts' | 'build-failed' | 'recipe-gone';
  /** One line for people. */
  message: string;
  /** `--force` publishes it anyway; never for a version with no artifact. */
  forceable: boolean;
}

export interface PublishGateOptions {
  /**
   * The project's recipes, name -> version; undefined when the zoo is published from outside a
   * project (then no version can be checked against a recipe).
   */
  recipes?: ReadonlyMap<string, string | undefined>;
}

/** Every version of the zoo that publish should refuse, with why. */
export async function publishRefusals(zooDir: string, options: PublishGateOptions = {}): Promise<PublishRefusal[]> {
  const index = await buildIndex(zooDir);
  const status = await readBuildStatus(zooDir);
  const refusals: PublishRefusal[] = [];
  for (const model of index.models) {
    for (const version of model.versions) {
      const id = `${model.name}@${version.version}`;
      const refuse = (kind: PublishRefusal['kind'], message: string) =>
        refusals.push({
          name: model.name,
          version: version.version,
          kind,
          message,
          forceable: kind !== 'no-artifacts',
        });
      if (version.artifacts.length === 0)
        refuse(
          'no-artifacts',
          `${id} has no artifact (${version.failed.length} failed); it would only take the version number`,
        );
      const build = status.versions[id];
      if (build && !build.ok)
        refuse(
          'build-failed',
          `the last build of ${id} failed${build.failures.length > 0 ? `: ${build.failures.join('; ')}` : ''}`,
        );
      if (options.recipes) {
        if (!options.recipes.has(model.name))
          refuse('recipe-gone', `${id} has no recipe any more (recipes/${model.name}.yaml is gone)`);
        else {
          const current = options.recipes.get(model.name);
          if (current !== undefined && current !== version.version)
            refuse('recipe-gone', `${id} is not the version recipes/${model.name}.yaml declares (${current})`);
        }
      }
    }
  }
  return refusals;
}
