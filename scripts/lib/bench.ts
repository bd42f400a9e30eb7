/**
 * What every scripts/bench-*.ts shares: its options (node:util parseArgs, with --help), the
 * statistics of repeated runs, and `goal`, which prints a figure against its goal and makes the
 * script exit 1 when the goal is missed, so a benchmark can fail a CI job or a release check.
 */
import os from 'node:os';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { percentile as sortedPercentile } from '../../src/validate/benchmark.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type OptionValues<T extends Options> = {
  [K in keyof T]: T[K] extends { type: 'boolean' } ? boolean | undefined : string | undefined;
};

/**
 * Parses the script's options; `--help` prints `usage` and exits 0, an unknown option prints it
 * and exits 2. Numbers stay strings here: read them with `numberOption`.
 */
export function benchOptions<T extends Options>(usage: string, options: T): OptionValues<T> {
  return benchArgs(usage, options, false).values;
}

/** `benchOptions` for a script that also takes positional arguments (model names...). */
export function benchArgs<T extends Options>(
  usage: string,
  options: T,
  allowPositionals = true,
): { values: OptionValues<T>; positionals: string[] } {
  try {
    const parsed = parseArgs({
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals,
      strict: true,
    });
    const values = parsed.values as Record<string, string | boolean | undefined>;
    if (values['help']) {
      console.log(usage);
      process.exit(0);
    }
    return { values: values as OptionValues<T>, positionals: parsed.positionals };
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    process.exit(2);
  }
}

/** A numeric option's value; exits 2 naming the option when it is not a number of at least `min`. */
export function numberOption(name: string, value: unknown, min = 1): number {
  const number = Number(value);
  if (typeof value !== 'string' || !Number.isFinite(number) || number < min) {
    console.error(`--${name} must be a number >= ${min}, received ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return number;
}

/** Nearest-rank percentile (fraction 0..1), as the build's own benchmark step computes it. */
export function percentile(values: readonly number[], fraction: number): number {
  return sortedPercentile(
    [...values].sort((a, b) => a - b),
    fraction,
  );
}

/** The median (nearest rank: of an even count, the lower middle value). */
export function median(values: readonly number[]): number {
  return percentile(values, 0.5);
}

/** Milliseconds of CPU (user + system) this process used since `start`. */
export function cpuMsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/** Runs `work` `runs` times (after `warmup` untimed runs) and returns each run's wall milliseconds. */
export async function timeRuns(runs: number, work: () => unknown, warmup = 0): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await work();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await work();
    times.push(performance.now() - started);
  }
  return times;
}

/** One line about the machine, since figures on a shared 2-core box swing with its load. */
export function machineLine(): string {
  const load = os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');
  return `machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, load average ${load}, node ${process.version}`;
}

type Comparison = '<' | '<=' | '>' | '>=';

const missed: string[] = [];
let goalLine = (line: string) => console.log(line);

/** Sends goal lines to stderr, for scripts whose stdout is JSON. */
export function printGoalsOnStderr(): void {
  goalLine = (line) => console.error(line);
}

/**
 * Prints `figure` against its goal (`name: 812 ms (goal < 1000 ms) met`) and, when it is
 * missed, sets the exit code to 1 and remembers it for `summariseGoals`. Returns whether it was met.
 */
export function goal(name: string, figure: number, comparison: Comparison, target: number, unit = ''): boolean {
  const met =
    comparison === '<'
      ? figure < target
      : comparison === '<='
        ? figure <= target
        : comparison === '>'
          ? figure > target
          : figure >= target;
  const space = unit && !unit.startsWith('%') && !unit.startsWith('x') ? ' ' : '';
  goalLine(
    `goal ${name}: ${formatFigure(figure)}${space}${unit} (goal ${comparison} ${formatFigure(target)}${space}${unit}) ${met ? 'met' : 'MISSED'}`,
  );
  if (!met) {
    missed.push(name);
    process.exitCode = 1;
  }
  return met;
}

/** A goal that is a condition rather than a figure: `goal warm build succeeded: exit 0 met`. */
export function requirement(name: string, met: boolean, detail: string): boolean {
  goalLine(`goal ${name}: ${detail} ${met ? 'met' : 'MISSED'}`);
  if (!met) {
    missed.push(name);
    process.exitCode = 1;
  }
  return met;
}

/** Prints how many goals were missed, if any (call last). */
export function summariseGoals(): void {
  if (missed.length > 0) goalLine(`MISSED ${missed.length} goal(s): ${missed.join('; ')}`);
}

function formatFigure(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(3);
}
