import assert from 'node:assert/strict';
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { BuildEvent } from '../../src/build/index.js';
import { isRunning } from './build-fixtures.js';
import { makeProject, removeProjects, runCli, startCli } from './build-cli-helpers.js';

after(removeProjects);

const events = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as BuildEvent);

describe('edgezoo build / plan / cache (stand-in runners)', () => {
  it('refuses wrong usage with exit 2 and says what to do', async () => {
    const root = await makeProject();
    const none = await runCli(root, ['build']);
    assert.equal(none.code, 2);
    assert.equal(
      none.stderr,
      'edgezoo: name the models to build, or pass --all\nhint: edgezoo build mobilenet-v2, or edgezoo build --all\n',
    );
    const unknown = await runCli(root, ['build', 'nope']);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr, 'edgezoo: no recipe named "nope" in recipes/\nhint: recipes here: m00, m01, m02\n');
    const jobs = await runCli(root, ['build', '--all', '--jobs', '0']);
    assert.equal(jobs.code, 2);
    assert.equal(jobs.stderr, 'edgezoo: --jobs must be a whole number of at least 1, received "0"\n');
  });

  it('builds, then rebuilds from the cache; plan shows what is cached', async () => {
    const root = await makeProject();
    const planned = JSON.parse((await runCli(root, ['plan', '--json'])).stdout) as {
      steps: Array<{ id: string; cached: boolean; fingerprint: string }>;
    };
    assert.equal(planned.steps.length, 39);
    assert.ok(planned.steps.every((step) => !step.cached));

    const first = await runCli(root, ['build', '--all', '--json']);
    assert.equal(first.code, 0, first.stderr);
    const firstEvents = events(first.stdout);
    assert.equal(firstEvents[0]!.type, 'plan');
    assert.equal(firstEvents.filter((event) => event.type === 'step-done').length, 39);
    const summary = firstEvents.at(-1)!;
    assert.ok(summary.type === 'summary' && summary.ok);

    const second = await runCli(root, ['build', '--all']);
    assert.equal(second.code, 0);
    assert.match(second.stdout, /^total\s+39\s+0\s+39\s+0\s+0\s+\S+$/m);
    assert.match(second.stdout, /^build ok$/m);
    const replanned = JSON.parse((await runCli(root, ['plan', '--json'])).stdout) as typeof planned;
    assert.ok(replanned.steps.every((step) => step.cached));
    const human = await runCli(root, ['plan', 'm01']);
    assert.match(human.stdout, /^m01: 13 steps, 13 cached, 0 to run$/m);
    assert.match(human.stdout, /^ {2}convert\/tflite\/fp32\s+[0-9a-f]{12} {2}cached {2}<- prepare, reference$/m);
  });

  it('exits 1 when a model fails, builds the others, and says which', async () => {
    const root = await makeProject();
    const run = await runCli(root, ['build', '--all'], { EDGEZOO_STANDIN_FAIL: '^m01/prepare$' });
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^m00\s+13\s+13\s+0\s+0\s+0\s/m);
    // fetch, reference and package ran (the package records what failed); prepare failed, 9 were blocked.
    assert.match(run.stdout, /^m01\s+13\s+3\s+0\s+10\s+0\s/m);
    assert.match(run.stdout, /^m02\s+13\s+13\s+0\s+0\s+0\s/m);
    assert.match(run.stdout, /^failed: m01\/prepare: stand-in failure of m01\/prepare \(9 dependent steps not run\)$/m);
    assert.match(
      run.stdout,
      /^\[m01\] prepare FAILED: stand-in failure of m01\/prepare \(log: .*artifacts\/logs\/m01\/prepare\.log\)$/m,
    );
    assert.match(run.stdout, /^build failed$/m);
    assert.equal(
      await readFile(path.join(root, 'artifacts', 'zoo', 'm00', '1.0.0', 'output.txt'), 'utf8').then(
        (text) => text.split('\n')[0],
      ),
      'm00/package',
    );
  });

  it('detects a flipped byte in a cached file (cache verify exit 1), evicts it and rebuilds it', async () => {
    const root = await makeProject();
    assert.equal((await runCli(root, ['build', 'm00'])).code, 0);
    const cacheDir = path.join(root, 'artifacts', 'cache');
    const entry = (await readdir(cacheDir)).find((name) => /^[0-9a-f]{64}$/.test(name))!;
    const file = path.join(cacheDir, entry, 'out', 'output.txt');
    await chmod(file, 0o644);
    const bytes = await readFile(file);
    bytes[0] = bytes[0]! ^ 0x01;
    await writeFile(file, bytes);

    const verify = await runCli(root, ['cache', 'verify']);
    assert.equal(verify.code, 1);
    assert.match(
      verify.stdout,
      new RegExp(`^corrupt ${entry.slice(0, 12)}: output\\.txt has sha256 [0-9a-f]{12}…, [0-9a-f]{12}… expected$`, 'm'),
    );
    assert.match(verify.stdout, /^checked 13 entries: 1 corrupt$/m);

    const rebuild = await runCli(root, ['build', 'm00', '--json']);
    assert.equal(rebuild.code, 0);
    const rebuildEvents = events(rebuild.stdout);
    assert.ok(
      rebuildEvents.some(
        (event) =>
          event.type === 'warning' && event.message.startsWith(`cache entry ${entry.slice(0, 12)} was corrupt`),
      ),
    );
    assert.ok(rebuildEvents.filter((event) => event.type === 'step-done').length >= 1);
    const clean = await runCli(root, ['cache', 'verify', '--json']);
    assert.equal(clean.code, 0);
    assert.deepEqual(JSON.parse(clean.stdout), { checked: 13, corrupt: [], fixed: false });
  });

  it('on SIGINT kills running steps and their children, keeps no partial entry; a rebuild reuses what finished', async () => {
    const root = await makeProject();
    const pidFile = path.join(root, 'child-pids');
    const env = { EDGEZOO_STANDIN_SLEEP_MS: '150', EDGEZOO_STANDIN_CHILD: pidFile };
    const build = startCli(root, ['build', '--all', '--json', '--jobs', '2'], env);
    // Wait until some steps are done and others are running.
    for (
      let tries = 0;
      tries < 300 && events(build.stdout()).filter((event) => event.type === 'step-done').length < 5;
      tries++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    build.child.kill('SIGINT');
    const result = await build.done;
    assert.equal(result.code, 130);
    const summary = events(result.stdout).at(-1)!;
    assert.ok(summary.type === 'summary' && summary.interrupted);
    const cacheDir = path.join(root, 'artifacts', 'cache');
    assert.deepEqual(
      (await readdir(cacheDir)).filter((name) => name.startsWith('.tmp-') || name.startsWith('.trash-')),
      [],
      'no partial entry',
    );
    const pids = (await readFile(pidFile, 'utf8')).trim().split('\n').map(Number);
    assert.ok(pids.length >= 2);
    assert.deepEqual(pids.filter(isRunning), [], 'no orphan child process');
    const finished = (await readdir(cacheDir)).filter((name) => /^[0-9a-f]{64}$/.test(name)).length;
    assert.ok(finished >= 5 && finished < 39, `${finished} entries`);

    const rebuild = await runCli(root, ['build', '--all', '--json'], { EDGEZOO_STANDIN_SLEEP_MS: '0' });
    assert.equal(rebuild.code, 0);
    const rebuildEvents = events(rebuild.stdout);
    assert.equal(rebuildEvents.filter((event) => event.type === 'step-cached').length, finished);
    assert.equal(rebuildEvents.filter((event) => event.type === 'step-done').length, 39 - finished);
  });

  it('two builds on one cache at once both succeed and leave it intact', async () => {
    const root = await makeProject();
    const env = { EDGEZOO_STANDIN_SLEEP_MS: '5' };
    const [a, b] = await Promise.all([runCli(root, ['build', '--all'], env), runCli(root, ['build', '--all'], env)]);
    assert.equal(a.code, 0, a.stdout + a.stderr);
    assert.equal(b.code, 0, b.stdout + b.stderr);
    const verify = await runCli(root, ['cache', 'verify']);
    assert.equal(verify.code, 0);
    assert.equal(verify.stdout, 'checked 39 entries: all intact\n');
  });

  it('gc removes what the current plan does not use and reports freed bytes', async () => {
    const root = await makeProject();
    assert.equal((await runCli(root, ['build', '--all'])).code, 0);
    const dry = await runCli(root, ['cache', 'gc', '--dry-run'], { EDGEZOO_STANDIN_MODELS: '2' });
    assert.equal(dry.code, 0);
    // m02 had 13 entries; its fetch is shared with nobody (the stand-in paths differ per model).
    assert.match(
      dry.stdout,
      /^would free \d+(\.\d)? (B|KiB) \(13 entries, 0 temporary folders; 26 entries in use kept\)$/m,
    );
    const gc = await runCli(root, ['cache', 'gc', '--json'], { EDGEZOO_STANDIN_MODELS: '2' });
    const report = JSON.parse(gc.stdout) as { entries: unknown[]; freedBytes: number };
    assert.equal(report.entries.length, 13);
    assert.ok(report.freedBytes > 0);
    assert.equal((await runCli(root, ['cache', 'verify'])).stdout, 'checked 26 entries: all intact\n');
  });
});
