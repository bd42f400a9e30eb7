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
import { parseArgs } from 'node:util';
import { STAMP_FILE, sourceStamp } from '../src/cli/build-stamp.mjs';

const GOAL_MS = 200;
const root = path.resolve(import.meta.dirname, '..');
const cli = path.join(root, 'src', 'cli', 'edgezoo.mjs');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '15' } } });
const runs = Number(values.runs);

let failed = false;
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

for (const args of [['--version'], ['pull', '--help'], ['check', '--help']]) {
  const times = time(args);
  const median = times[Math.floor(times.length / 2)]!;
  const goal = args[0] === '--version';
  const ok = !goal || median < GOAL_MS;
  failed ||= !ok;
  console.log(
    `node edgezoo ${args.join(' ')}: median ${median.toFixed(0)} ms, min ${times[0]!.toFixed(0)} ms, max ${times.at(-1)!.toFixed(0)} ms over ${runs} runs${goal ? ` (goal < ${GOAL_MS} ms) ${ok ? 'ok' : 'MISSED'}` : ''}`,
  );
}

const npx = spawnSync('npx', ['edgezoo', '--version'], { cwd: root, encoding: 'utf8' });
const quiet = npx.status === 0 && npx.stderr === '';
failed ||= !quiet;
console.log(
  `npx edgezoo --version: exit ${npx.status}, stderr ${quiet ? 'empty ok' : `"${npx.stderr.trim()}" MISSED`}`,
);
process.exit(failed ? 1 : 0);
