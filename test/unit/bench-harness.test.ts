/** The benchmark harness (scripts/lib/bench.ts): statistics, and a missed goal failing the script. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { median, percentile } from '../../scripts/lib/bench.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

test('median and percentiles are nearest-rank, whatever the order', () => {
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2);
  assert.equal(percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 0.9), 90);
  assert.equal(percentile([7], 0.99), 7);
});

function runGoals(code: string) {
  const script = `import { goal, requirement, summariseGoals } from './scripts/lib/bench.ts';\n${code}\nsummariseGoals();`;
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repo,
    encoding: 'utf8',
  });
}

test('a met goal prints its figure and leaves the exit code 0', () => {
  const run = runGoals("goal('plan 200 recipes', 123.4, '<', 200, 'ms');");
  assert.equal(run.stdout, 'goal plan 200 recipes: 123 ms (goal < 200 ms) met\n');
  assert.equal(run.status, 0);
});

test('a missed goal or requirement makes the script exit 1 and is summed up', () => {
  const run = runGoals(
    "goal('pull against curl', 43.25, '>=', 80, '%'); requirement('warm build runs no step', false, '3 steps run');",
  );
  assert.equal(
    run.stdout,
    [
      'goal pull against curl: 43.25% (goal >= 80%) MISSED',
      'goal warm build runs no step: 3 steps run MISSED',
      'MISSED 2 goal(s): pull against curl; warm build runs no step',
      '',
    ].join('\n'),
  );
  assert.equal(run.status, 1);
});
