import type { Command } from 'commander';
import { formatBytes } from '../util/format.js';
import type { ZooIndex } from '../zoo/index.js';
import { PRECISION_NAMES } from '../catalogue/precisions.js';
import type { CliContext } from './context.js';
import { addIndexOptions, openIndex, type IndexFlags } from './index-source.js';

interface ListFlags extends IndexFlags {
  task?: string;
  format?: string;
  precision?: string;
  json?: boolean;
}

/**
 * The models, versions and artifacts of an index that match the filters: a model by its task,
 * an artifact by format and precision; versions with no matching artifact and models with no
 * such version are left out when a format or precision is asked for.
 */
export function filterIndex(
  index: ZooIndex,
  filters: { task?: string; format?: string; precision?: string },
): ZooIndex {
  const byArtifact = filters.format !== undefined || filters.precision !== undefined;
  const models = index.models
    .filter((model) => filters.task === undefined || model.task === filters.task)
    .map((model) => ({
      ...model,
      versions: model.versions
        .map((version) => ({
          ...version,
          artifacts: version.artifacts.filter(
            (a) =>
              (filters.format === undefined || a.format === filters.format) &&
              (filters.precision === undefined || a.precision === filters.precision),
          ),
        }))
        .filter((version) => !byArtifact || version.artifacts.length > 0),
    }))
    .filter((model) => model.versions.length > 0);
  return { ...index, models };
}

export function register(program: Command, ctx: CliContext): void {
  const command = program
    .command('list')
    .description('List the models, versions and artifacts of a zoo index')
    .option('--task <task>', 'only models of this task (e.g. image-classification)')
    // As in pull: the index's format names, without loading the catalogue.
    .option('--format <format>', 'only artifacts of this format, e.g. onnx, tflite or openvino')
    .option('--precision <precision>', `only artifacts of this precision (${PRECISION_NAMES.join(', ')})`);
  addIndexOptions(command)
    .option('--json', 'print JSON for machines')
    .action(async (flags: ListFlags) => {
      const loaded = await openIndex(ctx, flags);
      const filters = {
        ...(flags.task !== undefined ? { task: flags.task } : {}),
        ...(flags.format !== undefined ? { format: flags.format } : {}),
        ...(flags.precision !== undefined ? { precision: flags.precision } : {}),
      };
      const index = filterIndex(loaded.index, filters);
      if (flags.json) {
        ctx.print(
          JSON.stringify(
            {
              index: loaded.location.href,
              verified: loaded.verified,
              models: index.models.map((m) => ({
                name: m.name,
                license: m.license,
                task: m.task,
                versions: m.versions.map((v) => ({
                  version: v.version,
                  ...(v.yanked ? { yanked: v.yanked } : {}),
                  artifacts: v.artifacts.map((a) => ({
                    format: a.format,
                    precision: a.precision,
                    size: a.size,
                    sha256: a.sha256,
                    url: a.url,
                  })),
                })),
              })),
            },
            null,
            2,
          ),
        );
        return;
      }
      if (index.models.length === 0) {
        const filtered = Object.keys(filters).length > 0;
        ctx.print(filtered ? 'no model of the index matches the filters' : 'the index lists no models');
        if (filtered && loaded.index.models.length > 0) {
          const tasks = [...new Set(loaded.index.models.map((m) => m.task))].sort();
          ctx.warn(`tasks in the index: ${tasks.join(', ')}`);
        }
        return;
      }
      for (const model of index.models) {
        ctx.print(`${model.name}  (${model.license}, ${model.task})`);
        for (const v of model.versions) {
          const artifacts = v.artifacts.map((a) => `${a.format}/${a.precision} ${formatBytes(a.size)}`).join(', ');
          ctx.print(`  ${v.version}${v.yanked ? ` [yanked: ${v.yanked.reason}]` : ''}  ${artifacts || 'no artifacts'}`);
        }
      }
      if (loaded.verified) ctx.warn('index signature verified');
    });
}
