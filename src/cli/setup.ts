import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { ENV_NAMES, isEnvName } from '../toolchain/envs.js';
import { setupToolchain } from '../toolchain/setup.js';
import type { CliContext } from './context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('setup')
    .description(
      'create the Python converter environments (artifacts/envs/<env>) from the committed lock files; quick no-op when they match',
    )
    .option('--env <name...>', `only these environments (${ENV_NAMES.join(', ')})`)
    .option('--force', 're-create the environments even when they match their locks')
    .option('--lock', 'maintainers: regenerate src/toolchain/envs/<env>.lock from <env>.in, then install from it')
    .option('-v, --verbose', "show pip's own output")
    .action(async (opts: { env?: string[]; force?: boolean; lock?: boolean; verbose?: boolean }) => {
      const envs = opts.env?.map((name) => {
        if (!isEnvName(name))
          throw new UsageError(`unknown environment ${JSON.stringify(name)}`, `one of: ${ENV_NAMES.join(', ')}`);
        return name;
      });
      const result = await setupToolchain({
        ...(envs ? { envs } : {}),
        force: Boolean(opts.force),
        mode: opts.lock ? 'lock' : 'install',
        onProgress: (e) => {
          if (e.phase === 'output') {
            if (opts.verbose) ctx.warn(`  ${e.message}`);
          } else if (e.phase !== 'check') {
            ctx.warn(e.message);
          }
        },
      });
      for (const r of result.envs) {
        ctx.print(`${r.env}: ${r.action}${r.reason ? ` (${r.reason})` : ''} in ${(r.ms / 1000).toFixed(1)} s`);
      }
    });
}
