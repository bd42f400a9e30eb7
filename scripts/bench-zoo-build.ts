/**
 * Cold and warm build time of the default zoo (recipes/*.yaml) through the real CLI:
 *   cold: `edgezoo build --all --force` (every step runs, the cache is rewritten);
 *   warm: `edgezoo build --all` right after (nothing changed: every step a cache hit).
 * Prints the wall time, the steps run / cached / failed and the exit code of each. Goals: both
 * builds succeed; the warm one runs no step and takes under 2 s.
 *
 *   node --import tsx scripts/bench-zoo-build.ts [--warm-only] [names...]
 *
 * Names limit the build to those recipes (default: --all). The cold run takes ~10 minutes on
 * 2 cores; --warm-only measures only the no-op rebuild of what is cached already.
 * Measured on 2 cores (7 recipes, 195 steps, 19 targets skipped by recipe): cold 248 s, warm
 * 0.8 s. --force does not clear artifacts/references (the sources' outputs on the validation
 * samples) nor the downloads; an earlier cold run under load average ~4 took 465 s.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs, goal, machineLine, requirement, summariseGoals } from './lib/bench.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'src', 'cli', 'edgezoo.mjs');
const { values, positionals: names } = benchArgs(
  'node --import tsx scripts/bench-zoo-build.ts [--warm-only] [names...]',
  { 'warm-only': { type: 'boolean' } },
);
const warmOnly = values['warm-only'] === true;
const selection = names.length > 0 ? names : ['--all'];

interface RunFigures {
  seconds: number;
  exitCode: number | null;
  run: number;
  cached: number;
  failed: number;
  skipped: number;
}

/** One `edgezoo build` with --json, counting its step events. */
function build(extra: string[]): Promise<RunFigures> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [cli, 'build', ...selection, ...extra, '--json'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const figures: RunFigures = { seconds: 0, exitCode: null, run: 0, cached: 0, failed: 0, skipped: 0 };
    let buffered = '';
    const take = (line: string) => {
      let event: { type?: string; blockedBy?: string };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        return;
      }
      if (event.type === 'step-done') figures.run++;
      else if (event.type === 'step-cached') figures.cached++;
      else if (event.type === 'step-failed' && !event.blockedBy) figures.failed++;
      else if (event.type === 'step-skipped') figures.skipped++;
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
  return `${label.padEnd(5)} ${f.seconds.toFixed(1).padStart(7)} s  ${f.run} steps run, ${f.cached} cached, ${f.failed} failed, ${f.skipped} targets skipped by recipe, exit ${f.exitCode}`;
}

console.log(`edgezoo build ${selection.join(' ')}; ${machineLine()}`);
if (!warmOnly) {
  const cold = await build(['--force']);
  console.log(describe('cold', cold));
  requirement('cold build succeeds', cold.exitCode === 0, `exit ${cold.exitCode}`);
}
const warm = await build([]);
console.log(describe('warm', warm));
requirement('warm build succeeds', warm.exitCode === 0, `exit ${warm.exitCode}`);
requirement('warm build runs no step', warm.run === 0, `${warm.run} steps run`);
goal('warm build (nothing changed)', warm.seconds, '<', 2, 's');
summariseGoals();
