import type { Command } from 'commander';
import { EdgezooError } from '../errors.js';
import type { CliContext } from './context.js';

export function register(program: Command, _ctx: CliContext): void {
  program
    .command('pull')
    .description('(not available yet)')
    .action(() => {
      throw new EdgezooError('NOT_IMPLEMENTED', '`edgezoo pull` is not available yet');
    });
}
