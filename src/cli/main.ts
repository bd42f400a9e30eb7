import { Command, CommanderError } from 'commander';
import { isEdgezooError } from '../errors.js';
import { createContext, type RegisterVerb } from './context.js';
import { register as registerBuild } from './build.js';
import { register as registerCache } from './cache.js';
import { register as registerCheck } from './check.js';
import { register as registerDoctor } from './doctor.js';
import { register as registerInspect } from './inspect.js';
import { register as registerList } from './list.js';
import { register as registerPlan } from './plan.js';
import { register as registerPublish } from './publish.js';
import { register as registerPull } from './pull.js';
import { register as registerSetup } from './setup.js';

const verbs: RegisterVerb[] = [
  registerCheck,
  registerPlan,
  registerBuild,
  registerInspect,
  registerPublish,
  registerPull,
  registerList,
  registerCache,
  registerSetup,
  registerDoctor,
];

/** Runs the CLI and returns its exit code: 0 success, 1 something asked for failed, 2 wrong usage. */
export async function main(argv: string[]): Promise<number> {
  const program = new Command('edgezoo')
    .description('Build, validate, publish and pull a zoo of edge-ready models from YAML recipes.')
    .option('-C, --project <dir>', 'project folder (default: the nearest folder with recipes/)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const ctx = createContext(program);
  for (const register of verbs) register(program, ctx);
  for (const command of program.commands) command.exitOverride().showHelpAfterError();

  try {
    await program.parseAsync(argv);
    return ctx.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end through here with exit code 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (isEdgezooError(error)) {
      ctx.warn(`edgezoo: ${error.message}`);
      if (error.hint) ctx.warn(`hint: ${error.hint}`);
      return error.exitCode;
    }
    ctx.warn('edgezoo: internal error (this is a bug in edgezoo, please report it):');
    ctx.warn(error instanceof Error ? (error.stack ?? error.message) : String(error));
    return 1;
  }
}
