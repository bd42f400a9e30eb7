import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import type { BuildOverrides } from '../build/project.js';
import { isEdgezooError } from '../errors.js';
import { toolRoot } from '../paths.js';
import { createContext, type RegisterVerb } from './context.js';

/**
 * Each verb's module, loaded on demand: a command pays only for the modules of its own verb
 * (onnxruntime, octokit and zod are heavy to load), and `edgezoo --help` loads them all.
 */
const verbModules: Record<string, () => Promise<{ register: RegisterVerb }>> = {
  check: () => import('./check.js'),
  plan: () => import('./plan.js'),
  build: () => import('./build.js'),
  inspect: () => import('./inspect.js'),
  publish: () => import('./publish.js'),
  pull: () => import('./pull.js'),
  list: () => import('./list.js'),
  cache: () => import('./cache.js'),
  zoo: () => import('./zoo.js'),
  setup: () => import('./setup.js'),
  doctor: () => import('./doctor.js'),
};

/** The verb named on the command line (the first word that is not an option), if it is one of ours. */
function requestedVerb(argv: string[]): string | undefined {
  const args = argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-C' || arg === '--project') {
      i++;
      continue;
    }
    if (arg.startsWith('-')) continue;
    return Object.hasOwn(verbModules, arg) ? arg : undefined;
  }
  return undefined;
}

/** edgezoo's own version, from its package.json. */
export function edgezooVersion(): string {
  return (JSON.parse(readFileSync(path.join(toolRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

let pipeGuardInstalled = false;

/**
 * A reader that goes away (`edgezoo inspect x.onnx | head`) makes the next write fail with
 * EPIPE, which Node raises as an unhandled 'error' event: a stack trace for a normal pipeline.
 * Output to a closed pipe is dropped instead, and the command finishes what it was doing (a
 * build keeps building rather than dying halfway).
 */
function dropOutputToClosedPipes(): void {
  if (pipeGuardInstalled) return;
  pipeGuardInstalled = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') return;
      throw error;
    });
  }
}

/**
 * Runs the CLI and returns its exit code: 0 success, 1 something asked for failed, 2 wrong usage.
 * `overrides` replace the step runners and recipes of `build`, `plan` and `cache gc`: a program
 * that embeds the CLI (the tests' stand-in entry) passes them; `edgezoo` itself never does.
 */
export async function main(argv: string[], overrides: BuildOverrides = {}): Promise<number> {
  dropOutputToClosedPipes();
  const program = new Command('edgezoo')
    .description('Build, validate, publish and pull a zoo of edge-ready models from YAML recipes.')
    .version(edgezooVersion(), '-V, --version', 'print the edgezoo version')
    .option('-C, --project <dir>', 'project folder (default: the nearest folder with recipes/)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const ctx = createContext(program, overrides);
  const verb = requestedVerb(argv);
  // --version needs no verb module; --help without a verb lists them all.
  const versionOnly = verb === undefined && argv.slice(2).some((arg) => arg === '--version' || arg === '-V');
  const names = verb ? [verb] : versionOnly ? [] : Object.keys(verbModules);
  const modules = await Promise.all(names.map((name) => verbModules[name]!()));
  for (const { register } of modules) register(program, ctx);
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
