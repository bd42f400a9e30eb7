import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

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

/**
 * The peak memory (MiB) measured for each heavy step, kept between builds in a JSON file (step id
 * -> MiB): the memory gate admits a step with the peak it reached last time (also when the OOM
 * killer ended it there) instead of its memory class's estimate.
 */
export class MemoryPeaks {
  private changed = false;

  private constructor(
    private readonly file: string | null,
    private readonly peaks: Record<string, number>,
  ) {}

  static async load(file: string | null): Promise<MemoryPeaks> {
    if (!file) return new MemoryPeaks(null, {});
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as unknown;
      const peaks: Record<string, number> = {};
      if (parsed && typeof parsed === 'object')
        for (const [id, mb] of Object.entries(parsed))
          if (typeof mb === 'number' && Number.isFinite(mb) && mb > 0) peaks[id] = mb;
      return new MemoryPeaks(file, peaks);
    } catch {
      return new MemoryPeaks(file, {});
    }
  }

  /** What the gate admits `stepId` with: its last measured peak, else `estimate`. */
  admit(stepId: string, estimate: number): number {
    return this.peaks[stepId] ?? estimate;
  }

  get(stepId: string): number | undefined {
    return this.peaks[stepId];
  }

  record(stepId: string, mb: number): void {
    if (!(mb > 0) || this.peaks[stepId] === mb) return;
    this.peaks[stepId] = mb;
    this.changed = true;
  }

  /** Writes the file when a peak changed (atomically; a failure to write only loses the figures). */
  async save(): Promise<void> {
    if (!this.file || !this.changed) return;
    try {
      await mkdir(path.dirname(this.file), { recursive: true });
      const sorted = Object.fromEntries(Object.entries(this.peaks).sort(([a], [b]) => a.localeCompare(b)));
      const temp = `${this.file}.${process.pid}.tmp`;
      await writeFile(temp, `${JSON.stringify(sorted, null, 2)}\n`);
      await rename(temp, this.file);
      this.changed = false;
    } catch {
      // figures only
    }
  }
}
