import type { Command } from 'commander';
import { indexLocation, loadIndex } from '../publish/index.js';
import { artifactPaths } from '../paths.js';
import { formatBytes } from '../util/format.js';
import { publicKeyFrom } from './pull.js';
import type { CliContext } from './context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('list')
    .description('List the models, versions and artifacts of a zoo index')
    .option(
      '--index <url|path>',
      'index.json URL or path (default EDGEZOO_INDEX, else artifacts/zoo/index.json of the project)',
    )
    .option(
      '--public-key <key>',
      'verify index.json.sig with this ed25519 public key (PEM, base64 SPKI, or a file); default EDGEZOO_PUBLIC_KEY',
    )
    .option('--json', 'print JSON for machines')
    .action(async (flags: { index?: string; publicKey?: string; json?: boolean }) => {
      const location = await indexLocation(
        flags.index ?? process.env.EDGEZOO_INDEX ?? artifactPaths(ctx.projectRoot()).zoo,
      );
      const publicKey = await publicKeyFrom(flags.publicKey);
      const { index, verified } = await loadIndex(location, publicKey ? { publicKey } : {});
      if (flags.json) {
        ctx.print(
          JSON.stringify(
            {
              index: location.href,
              verified,
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
        ctx.print('the index lists no models');
        return;
      }
      for (const model of index.models) {
        ctx.print(`${model.name}  (${model.license}, ${model.task})`);
        for (const v of model.versions) {
          const artifacts = v.artifacts.map((a) => `${a.format}/${a.precision} ${formatBytes(a.size)}`).join(', ');
          ctx.print(`  ${v.version}${v.yanked ? ` [yanked: ${v.yanked.reason}]` : ''}  ${artifacts || 'no artifacts'}`);
        }
      }
      if (verified) ctx.warn('index signature verified');
    });
}
