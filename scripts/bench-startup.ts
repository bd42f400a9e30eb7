/**
 * Start-up time of the CLI: `node src/cli/edgezoo.mjs --version` run several times, whose median
 * must stay under 200 ms, and for information `pull --help` and `check --help` (a verb module loaded). Also checks that
 * the compiled dist/ is current (otherwise the bin runs the sources through tsx, and the
 * figure would measure that) and that `npx edgezoo --version` prints nothing on stderr (an npm
 * warning there reaches every user on every call).
 * Run: `npx tsx scripts/bench-startup.ts [--runs 15]`. Exits 1 when a goal is missed.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { STAMP_FILE, sourceStamp } from '../src/cli/build-stamp.mjs';
import { benchOptions, goal, machineLine, median, numberOption, requirement, summariseGoals } from './lib/bench.js';

const GOAL_MS = 200;
const root = path.resolve(import.meta.dirname, '..');
const cli = path.join(root, 'src', 'cli', 'edgezoo.mjs');
const values = benchOptions('usage: npx tsx scripts/bench-startup.ts [--runs N]  (default 15)', {
  runs: { type: 'string', default: '15' },
});
const runs = numberOption('runs', values.runs);

let stamp: string | undefined;
try {
  stamp = (JSON.parse(readFileSync(path.join(root, 'dist', STAMP_FILE), 'utf8')) as { sources: string }).sources;
} catch {
  // reported below
}
if (stamp !== sourceStamp(path.join(root, 'src'))) {
  console.log('dist/ is missing or stale: run `npm run build` first (the bin would run the sources through tsx)');
  process.exit(1);
}

function time(args: string[]): number[] {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const result = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8' });
    times.push(performance.now() - started);
    if (result.status !== 0) throw new Error(`edgezoo ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  }
  return times.sort((a, b) => a - b);
}

console.log(machineLine());
for (const args of [['--version'], ['pull', '--help'], ['check', '--help']]) {
  const times = time(args);
  const name = `node edgezoo ${args.join(' ')}`;
  console.log(
    `${name}: median ${median(times).toFixed(0)} ms, min ${times[0]!.toFixed(0)} ms, max ${times.at(-1)!.toFixed(0)} ms over ${runs} runs`,
  );
  if (args[0] === '--version') goal(`${name} median`, median(times), '<', GOAL_MS, 'ms');
}

const npx = spawnSync('npx', ['edgezoo', '--version'], { cwd: root, encoding: 'utf8' });
requirement(
  'npx edgezoo --version is quiet',
  npx.status === 0 && npx.stderr === '',
  `exit ${npx.status}, stderr ${npx.stderr === '' ? 'empty' : `"${npx.stderr.trim()}"`}`,
);
summariseGoals();
