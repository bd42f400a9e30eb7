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
 * One line per event for logs and non-terminal output; undefined for events not worth a line:
 * cache hits and runner log lines (the summary counts the first, the log files hold the second),
 * steps blocked by another failure (the failure itself has its line, and the summary says how
 * many steps it kept from running), and skipped targets (`formatSkippedLines` gives one line
 * per model for them).
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
      if (event.blockedBy) return undefined;
      const name = stepName(event.step, event.model);
      const log = event.logFile ? ` (log: ${event.logFile})` : '';
      return `[${event.model}] ${name} FAILED${event.cached ? ' (cached result)' : ''}: ${event.reason}${log}`;
    }
    case 'warning':
      return `warning: ${event.message}`;
    case 'step-skipped':
    case 'step-cached':
    case 'log':
    case 'summary':
    case 'remote-cache':
      return undefined;
  }
}

/**
 * Targets the recipes skip, one line per model (`[m] 3 targets skipped by the recipe: ...`): the
 * reasons are on the model card and in `edgezoo plan`, and repeating them for every target on
 * every (mostly cached) build buried the lines that matter.
 */
export function formatSkippedLines(skipped: ReadonlyArray<{ model: string; target: string }>): string[] {
  const byModel = new Map<string, string[]>();
  for (const { model, target } of skipped) byModel.set(model, [...(byModel.get(model) ?? []), target]);
  return [...byModel].map(
    ([model, targets]) =>
      `[${model}] ${targets.length} target${targets.length === 1 ? '' : 's'} skipped by the recipe: ${targets.join(', ')} (reasons: edgezoo plan ${model})`,
  );
}

/**
 * Holds the skipped-target events a build emits right after its plan and prints them as
 * `formatSkippedLines` once the next event comes (or at `flush`).
 */
export function groupSkippedTargets(print: (line: string) => void): {
  onEvent: (event: BuildEvent) => void;
  flush: () => void;
} {
  const held: Array<{ model: string; target: string }> = [];
  const flush = () => {
    for (const line of formatSkippedLines(held.splice(0))) print(line);
  };
  return {
    onEvent: (event) => {
      if (event.type === 'step-skipped') held.push(event);
      else if (held.length > 0) flush();
    },
    flush,
  };
}

/**
 * Follows "blocked by" reasons to the step that failed: a blocked step's blocker may itself be
 * blocked. Returns, per failed step that is a root cause, how many steps it kept from running.
 */
function blockedCounts(failures: ReadonlyArray<{ step: string; reason: string }>): Map<string, number> {
  const blocker = new Map<string, string>();
  for (const failure of failures) {
    const match = /^blocked by (\S+)$/.exec(failure.reason);
    if (match) blocker.set(failure.step, match[1]!);
  }
  const counts = new Map<string, number>();
  for (const step of blocker.keys()) {
    let root = step;
    for (let hops = 0; blocker.has(root) && hops <= blocker.size; hops++) root = blocker.get(root)!;
    counts.set(root, (counts.get(root) ?? 0) + 1);
  }
  return counts;
}

/** The summary table: one row per model, then a total line, then one line per root cause of a failure. */
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
    const blocked = blockedCounts(model.failures);
    for (const failure of model.failures) {
      // Blocked steps only repeat their blocker: it says how many it blocked instead.
      if (failure.reason.startsWith('blocked by ')) continue;
      const count = blocked.get(failure.step) ?? 0;
      lines.push(
        `failed: ${failure.step}: ${failure.reason.split('\n')[0]}${count > 0 ? ` (${count} dependent step${count === 1 ? '' : 's'} not run)` : ''}`,
      );
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

/**
 * How each model version's build ended, for the zoo's build-status.json: ok, or its root causes
 * (failures that are not "blocked by" another), one line each.
 */
export function buildStatusOf(
  summary: BuildSummary,
  versions: ReadonlyMap<string, string>,
  now: Date = new Date(),
): Record<string, { ok: boolean; at: string; failures: string[] }> {
  const status: Record<string, { ok: boolean; at: string; failures: string[] }> = {};
  for (const model of summary.models) {
    const version = versions.get(model.model);
    if (version === undefined) continue;
    status[`${model.model}@${version}`] = {
      ok: model.failed === 0,
      at: now.toISOString(),
      failures: model.failures
        .filter((f) => !f.reason.startsWith('blocked by '))
        .map((f) => `${f.step}: ${f.reason.split('\n')[0]}`),
    };
  }
  return status;
}
