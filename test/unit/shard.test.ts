import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  estimatedStepSeconds,
  modelCosts,
  parseShardSpec,
  partitionModels,
  restrictPlan,
  type ModelCost,
} from '../../src/build/shard.js';
import { planBuild } from '../../src/plan/index.js';
import {
  buildIndex,
  mergeZooParts,
  readBuildStatus,
  updateBuildCosts,
  updateBuildStatus,
  writeIndex,
  writeShardRecord,
  zooIndexDifferences,
} from '../../src/zoo/index.js';
import { writeSampleVersion } from '../fixtures/sample-zoo.js';
import { makeRecipe, TEST_TOOLCHAIN, targets } from './build-fixtures.js';
import { makeProject, removeProjects, runCli } from './build-cli-helpers.js';

const temporaryDirs: string[] = [];
after(async () => {
  for (const dir of temporaryDirs) await rm(dir, { recursive: true, force: true });
  await removeProjects();
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-shard-'));
  temporaryDirs.push(dir);
  return dir;
}

const costs = (entries: Array<[string, number]>): ModelCost[] =>
  entries.map(([model, seconds]) => ({ model, seconds, recordedSteps: 1, steps: 1 }));

describe('--shard K/N', () => {
  it('parses K/N and refuses anything else with the expected form', () => {
    assert.deepEqual(parseShardSpec('2/3'), { index: 2, count: 3 });
    assert.deepEqual(parseShardSpec('1/1'), { index: 1, count: 1 });
    for (const bad of ['0/3', '4/3', '3', '1/0', 'a/b', '1/2/3', '-1/2', '1.5/2'])
      assert.throws(
        () => parseShardSpec(bad),
        (error: Error) => error.message === `--shard must be K/N with 1 <= K <= N, received "${bad}"`,
      );
  });

  it('partitions deterministically: the same shards whatever the input order, every model exactly once', () => {
    const list = costs(Array.from({ length: 23 }, (_, i): [string, number] => [`model-${i}`, (i * 37) % 11]));
    const reference = partitionModels(list, 4);
    for (let round = 0; round < 5; round++) {
      const shuffled = [...list].sort(() => Math.random() - 0.5);
      assert.deepEqual(partitionModels(shuffled, 4), reference);
    }
    const all = reference.shards.flat().sort();
    assert.deepEqual(all, list.map((c) => c.model).sort());
    assert.equal(new Set(all).size, all.length);
    assert.match(reference.digest, /^[0-9a-f]{64}$/);
    assert.notEqual(partitionModels(list, 3).digest, reference.digest);
  });

  it('balances by cost: no shard exceeds another by more than the largest model', () => {
    // Longest first: 9+2+1 = 12, 8+3 = 11, 7+4 = 11 (round-robin by name would give 9+8+... on one).
    const partition = partitionModels(
      costs([
        ['a', 9],
        ['b', 8],
        ['c', 7],
        ['d', 4],
        ['e', 3],
        ['f', 2],
        ['g', 1],
      ]),
      3,
    );
    assert.deepEqual(partition.shards, [
      ['a', 'f', 'g'],
      ['b', 'e'],
      ['c', 'd'],
    ]);
    assert.deepEqual(partition.seconds, [12, 11, 11]);
    const random = costs(Array.from({ length: 40 }, (_, i): [string, number] => [`m${i}`, 1 + ((i * 7919) % 97)]));
    const balanced = partitionModels(random, 3);
    const largest = Math.max(...random.map((c) => c.seconds));
    assert.ok(Math.max(...balanced.seconds) - Math.min(...balanced.seconds) <= largest, balanced.seconds.join(' '));
    // More shards than models: the extra shards are empty, not an error.
    assert.deepEqual(partitionModels(costs([['only', 5]]), 3).shards, [['only'], [], []]);
  });

  it('costs come from earlier builds where recorded and from the plan elsewhere', () => {
    const recipes = [
      makeRecipe('big', { targets: targets('onnx/fp32', 'tflite/fp32', 'tflite/fp16', 'openvino/fp32') }),
      makeRecipe('small', { targets: targets('onnx/fp32') }),
    ];
    const plan = planBuild(recipes, TEST_TOOLCHAIN, {});
    const estimated = modelCosts(plan, {});
    const bigEstimate = plan.steps
      .filter((s) => s.model === 'big')
      .reduce((sum, s) => sum + estimatedStepSeconds(s), 0);
    assert.deepEqual(
      estimated.map((c) => [c.model, c.seconds, c.recordedSteps]),
      [
        ['big', bigEstimate, 0],
        [
          'small',
          plan.steps.filter((s) => s.model === 'small').reduce((sum, s) => sum + estimatedStepSeconds(s), 0),
          0,
        ],
      ],
    );
    assert.ok(estimated[0]!.seconds > estimated[1]!.seconds, 'three onnx2tf conversions weigh more than one ONNX');
    // A recorded build where the small model's conversion took 500 s: now it is the expensive one.
    const recorded = modelCosts(plan, { 'small/convert/onnx/fp32': 500 });
    assert.equal(recorded.find((c) => c.model === 'small')!.recordedSteps, 1);
    assert.ok(recorded.find((c) => c.model === 'small')!.seconds > recorded.find((c) => c.model === 'big')!.seconds);
    const part = restrictPlan(plan, ['small']);
    assert.deepEqual(part.models, ['small']);
    assert.ok(part.steps.length > 0 && part.steps.every((s) => s.model === 'small'));
  });

  it('the CLI builds only its shard, records the costs, and refuses a bad --shard', async () => {
    const env = { EDGEZOO_STANDIN_MODELS: '5' };
    const shards = [];
    let root = '';
    // One project per shard, as on separate machines: a shard's build records new costs, which
    // would change the partition a later shard computes in the same project.
    for (const k of [1, 2]) {
      root = await makeProject();
      const run = await runCli(root, ['build', '--all', '--shard', `${k}/2`], env);
      assert.equal(run.code, 0, run.stderr);
      const line = run.stdout.split('\n').find((l) => l.startsWith(`shard ${k}/2: `));
      assert.ok(line, run.stdout);
      shards.push(line.replace(/.*\((.*)\)$/, '$1').split(', '));
      const record = JSON.parse(await readFile(path.join(root, 'artifacts', 'zoo', 'shard.json'), 'utf8'));
      assert.equal(record.shard, k);
      assert.equal(record.of, 2);
      assert.deepEqual(
        record.models.map((m: { name: string }) => m.name),
        shards.at(-1),
      );
    }
    assert.deepEqual([...shards.flat()].sort(), ['m00', 'm01', 'm02', 'm03', 'm04']);
    const recorded = JSON.parse(await readFile(path.join(root, 'artifacts', 'zoo', 'build-costs.json'), 'utf8'));
    assert.equal(recorded.schema, 'edgezoo.build-costs/1');
    assert.equal(Object.keys(recorded.steps).length, shards[1]!.length * 13, 'every step that ran has its seconds');
    // A whole build is no shard: its zoo loses shard.json.
    assert.equal((await runCli(root, ['build', '--all'], env)).code, 0);
    await assert.rejects(readFile(path.join(root, 'artifacts', 'zoo', 'shard.json')));

    const bad = await runCli(root, ['build', '--all', '--shard', '3/2'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--shard must be K\/N with 1 <= K <= N, received "3\/2"/);
    const noCosts = await runCli(root, ['build', '--all', '--shard', '1/2', '--costs', 'nope.json'], env);
    assert.equal(noCosts.code, 2);
    assert.match(noCosts.stderr, /--costs: .*nope\.json does not exist/);
    const help = await runCli(root, ['build', '--help']);
    assert.match(help.stdout, /--shard <K\/N>/);
    assert.match(help.stdout, /edgezoo zoo merge PART/);
  });
});

describe('zoo merge', () => {
  /** Two shards' zoos of sample models, and the zoo one machine would have written. */
  async function parts() {
    const dir = await tempDir();
    const single = path.join(dir, 'single', 'zoo');
    const a = path.join(dir, 'a', 'zoo');
    const b = path.join(dir, 'b', 'zoo');
    const models: Array<[string, string]> = [
      ['alpha', a],
      ['beta', b],
      ['gamma', a],
    ];
    for (const [name, part] of models) {
      const t = [
        { format: 'onnx' as const, precision: 'fp32' as const },
        { format: 'tflite' as const, precision: 'fp16' as const },
      ];
      await writeSampleVersion(part, name, '1.0.0', t);
      await writeSampleVersion(single, name, '1.0.0', t);
      await updateBuildStatus(part, { [`${name}@1.0.0`]: { ok: true, at: '2026-12-02T09:00:00.000Z', failures: [] } });
      await updateBuildCosts(part, { [`${name}/convert/onnx/fp32`]: 1.5 });
    }
    // An older model left in part b's folder by an earlier build: not part of this shard.
    await writeSampleVersion(b, 'stale', '0.1.0', [{ format: 'onnx', precision: 'fp32' }]);
    const partition = 'c'.repeat(64);
    await writeShardRecord(a, {
      shard: 1,
      of: 2,
      partition,
      models: [
        { name: 'alpha', version: '1.0.0' },
        { name: 'gamma', version: '1.0.0' },
      ],
    });
    await writeShardRecord(b, { shard: 2, of: 2, partition, models: [{ name: 'beta', version: '1.0.0' }] });
    await writeIndex(single);
    return { dir, single, a, b };
  }

  it('assembles the zoo and index a single build writes, from the listed models only', async () => {
    const { dir, single, a, b } = await parts();
    const out = path.join(dir, 'merged');
    const merged = await mergeZooParts([b, a], out);
    assert.deepEqual(merged.versions, ['alpha@1.0.0', 'beta@1.0.0', 'gamma@1.0.0']);
    const index = JSON.parse(await readFile(path.join(out, 'index.json'), 'utf8'));
    assert.deepEqual(zooIndexDifferences(index, await buildIndex(single)), []);
    assert.equal(
      await readFile(path.join(out, 'index.json'), 'utf8'),
      await readFile(path.join(single, 'index.json'), 'utf8'),
      'byte for byte when the benchmark figures agree',
    );
    assert.deepEqual(Object.keys((await readBuildStatus(out)).versions).sort(), [
      'alpha@1.0.0',
      'beta@1.0.0',
      'gamma@1.0.0',
    ]);
    const costs = JSON.parse(await readFile(path.join(out, 'build-costs.json'), 'utf8'));
    assert.deepEqual(Object.keys(costs.steps).sort(), [
      'alpha/convert/onnx/fp32',
      'beta/convert/onnx/fp32',
      'gamma/convert/onnx/fp32',
    ]);
    await assert.rejects(readFile(path.join(out, 'shard.json')), 'the merged zoo is no part');
  });

  it('ignores benchmark figures when comparing, and names any other difference', async () => {
    const { single } = await parts();
    const index = await buildIndex(single);
    const other = structuredClone(index);
    other.models[0]!.versions[0]!.artifacts[0]!.benchmark = {
      ...index.models[0]!.versions[0]!.artifacts[0]!.benchmark!,
      medianMs: 99,
    };
    other.models[0]!.versions[0]!.manifest.sha256 = 'd'.repeat(64);
    assert.deepEqual(zooIndexDifferences(index, other), []);
    other.models[1]!.versions[0]!.artifacts[0]!.sha256 = 'e'.repeat(64);
    assert.deepEqual(zooIndexDifferences(index, other), [
      `models[1].versions[0].artifacts[0].sha256: "${index.models[1]!.versions[0]!.artifacts[0]!.sha256}" against "${'e'.repeat(64)}"`,
    ]);
  });

  it('refuses parts that are not shards 1..N of one partition, and a file that does not match its manifest', async () => {
    const { dir, a, b } = await parts();
    const out = path.join(dir, 'merged');
    await assert.rejects(mergeZooParts([a], out), /the parts do not make one zoo: shard 2\/2 is missing/);
    await assert.rejects(mergeZooParts([a, a, b], out), /shard 1\/2 is given twice/);
    await assert.rejects(mergeZooParts([a, dir], out), /is not a shard's zoo: it has no shard\.json/);
    await writeShardRecord(b, {
      shard: 2,
      of: 2,
      partition: 'f'.repeat(64),
      models: [{ name: 'beta', version: '1.0.0' }],
    });
    await assert.rejects(mergeZooParts([a, b], out), /is shard 2\/2 of another partition than/);
    await writeShardRecord(b, {
      shard: 2,
      of: 2,
      partition: 'c'.repeat(64),
      models: [{ name: 'beta', version: '1.0.0' }],
    });
    await writeFile(path.join(b, 'beta', '1.0.0', 'beta-1.0.0-onnx-fp32.onnx'), 'tampered');
    await assert.rejects(
      mergeZooParts([a, b], out),
      /beta-1\.0\.0-onnx-fp32\.onnx has sha256 [0-9a-f]{64}; its manifest says/,
    );
    await assert.rejects(readFile(path.join(out, 'index.json')), 'nothing was written');
  });

  it('the CLI merges and prints what it did', async () => {
    const { dir, a, b } = await parts();
    const root = await makeProject();
    const out = path.join(dir, 'cli-merged');
    const run = await runCli(root, ['zoo', 'merge', a, b, '--out', out]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout.trim(),
      `merged 2 shard(s) into ${out}: 3 model version(s); index ${path.join(out, 'index.json')}`,
    );
    const missing = await runCli(root, ['zoo', 'merge', a, '--out', out]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /the parts do not make one zoo: shard 2\/2 is missing/);
  });
});
