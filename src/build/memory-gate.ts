/**
 * Admits tasks while the sum of their memory estimates fits a budget, first come first
 * served. A task larger than the whole budget runs alone rather than never.
 */
export class MemoryGate {
  private inUse = 0;
  private running = 0;
  private readonly waiting: Array<{ mib: number; admit: () => void }> = [];

  constructor(readonly budgetMiB: number) {}

  async run<T>(mib: number, task: () => Promise<T>): Promise<T> {
    await new Promise<void>((admit) => {
      this.waiting.push({ mib, admit });
      this.admitWaiting();
    });
    try {
      return await task();
    } finally {
      this.inUse -= mib;
      this.running -= 1;
      this.admitWaiting();
    }
  }

  private admitWaiting(): void {
    // Strict FIFO: a big task at the head is not overtaken forever by small ones.
    while (this.waiting.length > 0) {
      const head = this.waiting[0]!;
      if (this.running > 0 && this.inUse + head.mib > this.budgetMiB) return;
      this.waiting.shift();
      this.inUse += head.mib;
      this.running += 1;
      head.admit();
    }
  }
}
