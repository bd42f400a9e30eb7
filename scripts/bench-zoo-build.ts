/**
 * Cold and warm build time of the default zoo (recipes/*.yaml) through the real CLI, and the
 * gain of one converter run per model (issue 14.1), measured in one run:
 *   cold per-precision: `edgezoo build --all --force --converter-runs per-precision` (one
 *     onnx2tf run per artifact, as before 14.1);
 *   cold grouped: `edgezoo build --all --force` (one onnx2tf float run per model for fp32, fp16
 *     and dynamic-int8, one calibrated run for int8 and int16-act);
 *   warm: `edgezoo build --all` right after (nothing changed: every step a cache hit).
 * Prints, per build, the wall time, the steps run / cached / failed, and the TFLite conversion
 * time (the summed durations of the TFLite convert and convert-run steps: what grouping changes).
 * Goals: every build exits as the per-precision one does, with the same validation verdict for
 * every artifact; grouped TFLite conversion at least 2x faster than per-precision; the warm
 * build runs no step and takes under 2 s. Exit 1 when a goal is missed.
 *
 *   node --import tsx scripts/bench-zoo-build.ts [--warm-only] [--grouped-only] [names...]
 *
 * Names limit the build to those recipes (default: --all). The cold runs take ~10 minutes each
 * on 2 cores; --warm-only measures only the no-op rebuild of what is cached already;
 * --grouped-only skips the per-precision build (no comparison). --force does not clear the
 * downloads.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs, goal, machineLine, requirement, summariseGoals } from './lib/bench.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'src', 'cli', 'edgezoo.mjs');
const { values, positionals: names } = benchArgs(
  'node --import tsx scripts/bench-zoo-build.ts [--warm-only] [--grouped-only] [names...]',
  { 'warm-only': { type: 'boolean' }, 'grouped-only': { type: 'boolean' } },
);
const warmOnly = values['warm-only'] === true;
const groupedOnly = values['grouped-only'] === true;
const selection = names.length > 0 ? names : ['--all'];

interface RunFigures {
  seconds: number;
  exitCode: number | null;
  run: number;
  cached: number;
  failed: number;
  skipped: number;
  /** Summed durations of the TFLite convert and convert-run steps that ran, seconds. */
  tfliteConvertSeconds: number;
  /** TFLite converter runs: convert-run steps, and convert steps that converted themselves. */
  tfliteRuns: number;
  /** Validate step id -> passed / failed / blocked. */
  verdicts: Map<string, string>;
}

/** One `edgezoo build` with --json, counting its step events. */
function build(extra: string[]): Promise<RunFigures> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [cli, 'build', ...selection, ...extra, '--json'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const figures: RunFigures = {
      seconds: 0,
      exitCode: null,
      run: 0,
      cached: 0,
      failed: 0,
      skipped: 0,
      tfliteConvertSeconds: 0,
      tfliteRuns: 0,
      verdicts: new Map(),
    };
    const startedSteps = new Set<string>();
    let buffered = '';
    const take = (line: string) => {
      let event: {
        type?: string;
        step?: string;
        kind?: string;
        blockedBy?: string;
        durationMs?: number;
        line?: string;
      };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        return;
      }
      const step = event.step ?? '';
      const tfliteConversion = (event.kind === 'convert' || event.kind === 'convert-run') && step.includes('/tflite');
      if (event.type === 'step-start') startedSteps.add(step);
      if (event.type === 'step-done') figures.run++;
      else if (event.type === 'step-cached') figures.cached++;
      else if (event.type === 'step-failed' && !event.blockedBy) figures.failed++;
      else if (event.type === 'step-skipped') figures.skipped++;
      if ((event.type === 'step-done' || event.type === 'step-failed') && tfliteConversion && startedSteps.has(step))
        figures.tfliteConvertSeconds += (event.durationMs ?? 0) / 1000;
      // A convert step of a grouped run logs that it took its artifact from the run.
      if (event.type === 'log' && event.line?.includes('[edgezoo] convert: ') && step.includes('/tflite'))
        figures.tfliteRuns++;
      if (event.kind === 'validate') {
        if (event.type === 'step-done' || event.type === 'step-cached') figures.verdicts.set(step, 'passed');
        else if (event.type === 'step-failed') figures.verdicts.set(step, event.blockedBy ? 'blocked' : 'failed');
      }
    };
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      lines.forEach(take);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (buffered) take(buffered);
      figures.exitCode = code;
      figures.seconds = (performance.now() - started) / 1000;
      resolve(figures);
    });
  });
}

function describe(label: string, f: RunFigures): string {
  return `${label.padEnd(20)} ${f.seconds.toFixed(1).padStart(7)} s  ${f.run} steps run, ${f.cached} cached, ${f.failed} failed, ${f.skipped} targets skipped by recipe, exit ${f.exitCode}; TFLite conversion ${f.tfliteConvertSeconds.toFixed(1)} s in ${f.tfliteRuns} converter attempt(s)`;
}

console.log(`edgezoo build ${selection.join(' ')}; ${machineLine()}`);
if (!warmOnly) {
  const single = groupedOnly ? undefined : await build(['--force', '--converter-runs', 'per-precision']);
  if (single) console.log(describe('cold per-precision', single));
  const grouped = await build(['--force', '--converter-runs', 'grouped']);
  console.log(describe('cold grouped', grouped));
  if (single) {
    requirement(
      'cold grouped build exits as the per-precision one',
      grouped.exitCode === single.exitCode,
      `exit ${grouped.exitCode} vs ${single.exitCode}`,
    );
    const differing = [...new Set([...single.verdicts.keys(), ...grouped.verdicts.keys()])]
      .filter((id) => single.verdicts.get(id) !== grouped.verdicts.get(id))
      .map((id) => `${id}: ${single.verdicts.get(id) ?? 'absent'} vs ${grouped.verdicts.get(id) ?? 'absent'}`);
    requirement(
      'same validation verdict for every artifact in both modes',
      differing.length === 0,
      differing.length === 0 ? `${grouped.verdicts.size} verdicts equal` : differing.join('; '),
    );
    goal(
      'TFLite conversion speed-up of grouped runs',
      single.tfliteConvertSeconds / Math.max(grouped.tfliteConvertSeconds, 0.001),
      '>=',
      2,
      'x',
    );
    console.log(`whole cold build: ${(single.seconds / grouped.seconds).toFixed(2)}x faster grouped`);
  } else requirement('cold build succeeds', grouped.exitCode === 0, `exit ${grouped.exitCode}`);
}
const warm = await build([]);
console.log(describe('warm', warm));
requirement('warm build succeeds', warm.exitCode === 0, `exit ${warm.exitCode}`);
requirement('warm build runs no step', warm.run === 0, `${warm.run} steps run`);
goal('warm build (nothing changed)', warm.seconds, '<', 2, 's');
summariseGoals();
