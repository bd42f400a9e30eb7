import type { StepKind } from '../plan/types.js';
import type { StepRunner, StepRunners } from './types.js';

/** Step runners by kind: what the executor runs each planned step with. */
export class StepRunnerRegistry {
  private readonly runners: StepRunners = {};

  register<K extends StepKind>(kind: K, runner: StepRunner<K>): void {
    this.runners[kind] = runner as StepRunners[K];
  }

  registerAll(runners: StepRunners): void {
    Object.assign(this.runners, runners);
  }

  get<K extends StepKind>(kind: K): StepRunner<K> | undefined {
    return this.runners[kind] as StepRunner<K> | undefined;
  }

  kinds(): StepKind[] {
    return Object.keys(this.runners) as StepKind[];
  }
}
