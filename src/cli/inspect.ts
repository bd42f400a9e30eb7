import type { Command } from 'commander';
import { EdgezooError } from '../errors.js';
import type { CliContext } from './context.js';

export function register(program: Command, _ctx: CliContext): void {
  program
    .command('inspect')
    .description('(not available yet)')
    .action(() => {
      throw new EdgezooError('NOT_IMPLEMENTED', '`edgezoo inspect` is not available yet');
    });
}
