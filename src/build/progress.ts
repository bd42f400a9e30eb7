import type { BuildEvent, BuildSummary } from './types.js';

/** `1.2s`, `340ms`, `2m05s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}

/** The step id without its model: `convert/tflite/int8`. */
function stepName(step: string, model: string): string {
  return step.startsWith(`${model}/`) ? step.slice(model.length + 1) : step;
}

/**
 * One line per event for logs and non-terminal output; undefined for events not worth a line
 * (cache hits and runner log lines: the summary counts the first, the log files hold the second).
 */
export function formatEventLine(event: BuildEvent): string | undefined {
  switch (event.type) {
    case 'plan':
      return `building ${event.models.length} model(s): ${event.steps} steps${event.skipped ? `, ${event.skipped} target(s) skipped by recipes` : ''}`;
    case 'step-start':
      return `[${event.model}] ${stepName(event.step, event.model)} started`;
    case 'step-done':
      return `[${event.model}] ${stepName(event.step, event.model)} done in ${formatDuration(event.durationMs)}`;
    case 'step-failed': {
      const name = stepName(event.step, event.model);
      if (event.blockedBy) return `[${event.model}] ${name} not run: blocked by ${event.blockedBy}`;
      const log = event.logFile ? ` (log: ${event.logFile})` : '';
      return `[${event.model}] ${name} FAILED${event.cached ? ' (cached result)' : ''}: ${event.reason}${log}`;
    }
    case 'step-skipped':
      return `[${event.model}] ${event.target} skipped: ${event.reason}`;
    case 'warning':
      return `warning: ${event.message}`;
    case 'step-cached':
    case 'log':
    case 'summary':
    case 'remote-cache':
      return undefined;
  }
}

/** The summary table: one row per model, then a total line. */
export function formatSummaryTable(summary: BuildSummary): string[] {
  const header = ['model', 'steps', 'run', 'cached', 'failed', 'skipped', 'time'];
  const rows = summary.models.map((model) => [
    model.model,
    String(model.steps),
    String(model.run),
    String(model.cached),
    String(model.failed),
    String(model.skipped),
    formatDuration(model.durationMs),
  ]);
  const total = summary.models.reduce(
    (sum, model) => ({
      steps: sum.steps + model.steps,
      run: sum.run + model.run,
      cached: sum.cached + model.cached,
      failed: sum.failed + model.failed,
      skipped: sum.skipped + model.skipped,
    }),
    { steps: 0, run: 0, cached: 0, failed: 0, skipped: 0 },
  );
  rows.push([
    'total',
    String(total.steps),
    String(total.run),
    String(total.cached),
    String(total.failed),
    String(total.skipped),
    formatDuration(summary.durationMs),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
      .join('  ');
  const lines = [line(header), ...rows.map(line)];
  for (const model of summary.models) {
    for (const failure of model.failures) {
      // Blocked steps only repeat their blocker; the table already counts them.
      if (!failure.reason.startsWith('blocked by '))
        lines.push(`failed: ${failure.step}: ${failure.reason.split('\n')[0]}`);
    }
  }
  lines.push(
    summary.interrupted
      ? 'interrupted: finished steps are cached, run the build again to go on'
      : summary.ok
        ? 'build ok'
        : 'build failed',
  );
  return lines;
}

interface ModelProgress {
  total: number;
  finished: number;
  failed: number;
  running: Map<string, number>;
  startedAt?: number;
  finishedAt?: number;
}

/**
 * State of the live terminal display: per model the running step, elapsed time and steps
 * done of total. Feed it events; `render` returns the lines of the current frame (the CLI
 * draws them with ANSI cursor movement).
 */
export class LiveDisplay {
  private readonly models = new Map<string, ModelProgress>();

  constructor(stepsPerModel: ReadonlyMap<string, number>) {
    for (const [model, total] of stepsPerModel)
      this.models.set(model, { total, finished: 0, failed: 0, running: new Map() });
  }

  update(event: BuildEvent, now: number): void {
    if (
      event.type !== 'step-start' &&
      event.type !== 'step-done' &&
      event.type !== 'step-cached' &&
      event.type !== 'step-failed'
    )
      return;
    const model = this.models.get(event.model);
    if (!model) return;
    model.startedAt ??= now;
    if (event.type === 'step-start') {
      model.running.set(event.step, now);
      return;
    }
    model.running.delete(event.step);
    model.finished += 1;
    if (event.type === 'step-failed') model.failed += 1;
    if (model.finished === model.total) model.finishedAt = now;
  }

  /** At most `maxLines` lines: models with running steps first, then a count of the rest. */
  render(now: number, width = 100, maxLines = 20): string[] {
    const active: string[] = [];
    let done = 0;
    let waiting = 0;
    let failedModels = 0;
    for (const [name, model] of this.models) {
      if (model.failed > 0) failedModels += 1;
      if (model.finished === model.total) {
        done += 1;
        continue;
      }
      if (model.startedAt === undefined) {
        waiting += 1;
        continue;
      }
      const current = [...model.running.keys()].map((step) => stepName(step, name));
      const elapsed = formatDuration(now - model.startedAt);
      const line = `${name}  ${model.finished}/${model.total}  ${elapsed}  ${current.length ? current.join(', ') : 'waiting'}${model.failed ? `  (${model.failed} failed)` : ''}`;
      active.push(line.length > width ? `${line.slice(0, width - 1)}…` : line);
    }
    const shown = active.slice(0, Math.max(1, maxLines - 1));
    const more = active.length - shown.length;
    const footer = `${done} model(s) done, ${active.length} building, ${waiting} waiting${failedModels ? `, ${failedModels} with failures` : ''}${more > 0 ? ` (${more} more not shown)` : ''}`;
    return [...shown, footer];
  }
}
