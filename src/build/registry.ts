import type { StepKind } from '../plan/types.js';
import type { StepRunner, StepRunners } from './types.js';

/** Step runners by kind: what the executor runs each planned step with. */
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
