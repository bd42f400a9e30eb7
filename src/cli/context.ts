import type { Command } from 'commander';
import type { BuildOverrides } from '../build/project.js';
import { findProjectRoot } from '../paths.js';

/** What every verb gets: where to write, whether a person is watching, and the project root. */
export interface CliContext {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** Prints one line for people on stdout. */
  print(line?: string): void;
  /** Prints one line for people on stderr (progress, warnings). */
  warn(line: string): void;
  /** The project a verb works on: `--project DIR`, else the nearest folder with recipes/. */
  projectRoot(): string;
  /** Set by a verb's action; `main` returns it. 0 ok, 1 something failed, 2 wrong usage. */
  exitCode: number;
  /** Runners and recipes given to `main` in place of the project's (tests only). */
  overrides: BuildOverrides;
}

export function createContext(program: Command, overrides: BuildOverrides = {}): CliContext {
  const ctx: CliContext = {
    stdout: process.stdout,
    stderr: process.stderr,
    print: (line = '') => void process.stdout.write(`${line}\n`),
    warn: (line) => void process.stderr.write(`${line}\n`),
    projectRoot: () => {
      const opts = program.opts<{ project?: string }>();
      return findProjectRoot(opts.project ?? process.cwd());
    },
    exitCode: 0,
    overrides,
  };
  return ctx;
}

/** A verb module registers its command on the program; its action sets `ctx.exitCode`. */
export type RegisterVerb = (program: Command, ctx: CliContext) => void;
