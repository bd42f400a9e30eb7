/**
 * Crash safety of the build cache: SIGKILL a build (stand-in runners, no Python) at 20
 * seeded random moments; after each, a normal build must finish and every entry must verify.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { LocalCache } from '../../src/cache/index.js';
import type { Fingerprint } from '../../src/plan/index.js';
import { makeProject, removeProjects, runCli, startCli } from '../unit/build-cli-helpers.js';
import { seededRandom } from '../../src/validate/random.js';

after(removeProjects);

describe('edgezoo build killed at random moments', () => {
  it('always leaves a cache that a rebuild completes and verify finds intact (20 SIGKILLs)', {
    timeout: 180_000,
  }, async () => {
    const seed = Number(process.env['EDGEZOO_KILL_SEED'] ?? '20261121');
    const random = seededRandom(seed);
    const root = await makeProject();
    const cache = new LocalCache(path.join(root, 'artifacts', 'cache'));
    const env = { EDGEZOO_STANDIN_MODELS: '4', EDGEZOO_STANDIN_SLEEP_MS: '15' };
    for (let round = 0; round < 20; round++) {
      // Forget a random part of the cache so the killed build has real writes to do;
      // every third round forces a full rebuild that replaces entries.
      for (const fingerprint of await cache.list()) if (random() < 0.5) await cache.evict(fingerprint as Fingerprint);
      const force = round % 3 === 2;
      const build = startCli(root, ['build', '--all', '--jobs', '2', ...(force ? ['--force'] : [])], env);
      // tsx needs ~0.5-1 s to start; kill anywhere from start-up through the end of the build.
      const delay = 300 + Math.floor(random() * 1500);
      await new Promise((resolve) => setTimeout(resolve, delay));
      build.child.kill('SIGKILL');
      await build.done;

      const rebuild = await runCli(root, ['build', '--all', '--jobs', '2'], { ...env, EDGEZOO_STANDIN_SLEEP_MS: '0' });
      assert.equal(
        rebuild.code,
        0,
        `round ${round} (seed ${seed}, kill after ${delay} ms): ${rebuild.stdout}${rebuild.stderr}`,
      );
      const report = await cache.verifyAll();
      assert.deepEqual(report.corrupt, [], `round ${round} (seed ${seed})`);
      // 4 stand-in models of 13 steps each.
      assert.equal(report.checked, 52);
    }
    const verify = await runCli(root, ['cache', 'verify']);
    assert.equal(verify.code, 0);
    assert.equal(verify.stdout, 'checked 52 entries: all intact\n');
    // The killed builds' temporary folders are for gc, which removes them (their pids are dead).
    const gc = await runCli(root, ['cache', 'gc', '--json'], { EDGEZOO_STANDIN_MODELS: '4' });
    assert.equal((JSON.parse(gc.stdout) as { entries: unknown[] }).entries.length, 0);
    assert.deepEqual(
      (await readdir(cache.root)).filter((name) => name.startsWith('.tmp-') || name.startsWith('.trash-')),
      [],
    );
  });
});
