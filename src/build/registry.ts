import type { StepKind } from '../plan/types.js';
import type { StepRunner, StepRunners } from './types.js';

/** Step runners by kind; converter backends register theirs here. */
export class StepRunnerRegistry {
  private readonly runners = new Map<StepKind, StepRunner>();

  register(kind: StepKind, runner: StepRunner): void {
    this.runners.set(kind, runner);
  }

  registerAll(runners: StepRunners): void {
    for (const [kind, runner] of Object.entries(runners) as Array<[StepKind, StepRunner | undefined]>) {
      if (runner) this.register(kind, runner);
    }
  }

  get(kind: StepKind): StepRunner | undefined {
    return this.runners.get(kind);
  }

  kinds(): StepKind[] {
    return [...this.runners.keys()];
  }
}

/** The process-wide registry the CLI builds with. */
export const defaultRegistry = new StepRunnerRegistry();

/** Registers the runner of a step kind in the default registry (a later call replaces it). */
export function registerStepRunner(kind: StepKind, runner: StepRunner): void {
  defaultRegistry.register(kind, runner);
}
