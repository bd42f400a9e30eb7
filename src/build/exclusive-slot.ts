/**
 * Lets some tasks (benchmarks) run alone against the CPU-bound ones (converters, validation,
 * references): an exclusive task starts only while no shared task runs or waits for a CPU slot,
 * and no shared task starts while an exclusive one runs. Exclusive tasks run one at a time.
 *
 * Shared work goes first: an exclusive task waits as long as any shared task is admitted, so
 * benchmarks gather after the conversions instead of stopping them. When one does run (the
 * converters are idle, waiting on downloads or done), shared tasks that arrive meanwhile wait
 * for it to end, and then all of them go before the next exclusive one.
 */
export class ExclusiveSlot {
  /** Shared tasks admitted: running, or queued behind a CPU limiter or the memory gate. */
  private sharedActive = 0;
  private exclusiveRunning = false;
  private readonly sharedWaiting: Array<() => void> = [];
  private readonly exclusiveWaiting: Array<() => void> = [];

  /**
   * Runs `task` as shared work. Register before waiting for a CPU limiter (pass the limiter's
   * wait inside `task`): a task queued for a CPU slot already keeps exclusive ones out.
   */
  async shared<T>(task: () => Promise<T>): Promise<T> {
    // Counted when admitted: by admitNext for a task that waited, else here.
    if (this.exclusiveRunning) await new Promise<void>((admit) => this.sharedWaiting.push(admit));
    else this.sharedActive += 1;
    try {
      return await task();
    } finally {
      this.sharedActive -= 1;
      this.admitNext();
    }
  }

  /** Runs `task` alone (see the class comment). */
  async exclusive<T>(task: () => Promise<T>): Promise<T> {
    await new Promise<void>((admit) => {
      this.exclusiveWaiting.push(admit);
      this.admitNext();
    });
    try {
      return await task();
    } finally {
      this.exclusiveRunning = false;
      this.admitNext();
    }
  }

  /** Shared tasks running or queued, and whether an exclusive one runs (for tests and progress). */
  get state(): { shared: number; exclusive: boolean } {
    return { shared: this.sharedActive, exclusive: this.exclusiveRunning };
  }

  private admitNext(): void {
    if (this.exclusiveRunning) return;
    // Counted here, before their continuations run, so no exclusive task slips in between.
    for (const admit of this.sharedWaiting.splice(0)) {
      this.sharedActive += 1;
      admit();
    }
    if (this.sharedActive > 0) return;
    const next = this.exclusiveWaiting.shift();
    if (!next) return;
    this.exclusiveRunning = true;
    next();
  }
}
