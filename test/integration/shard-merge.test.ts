/**
 * `edgezoo build --shard K/N` + `edgezoo zoo merge` with the real converters: three generated
 * models built once by one project, and in two shards by two other projects (separate caches,
 * as on separate machines, run at the same time). The merged zoo must equal the single build:
 * the same index except the figures each machine measures itself, and every artifact file
 * byte-identical.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { buildIndex, zooIndexDifferences } from '../../src/zoo/index.js';
import { writeGeneratedZoo } from '../fixtures/generated-zoo.js';
import { runCli } from './pipeline-project.js';

const dirs: string[] = [];
after(async () => {
  if (!process.env.EDGEZOO_KEEP_TEST_PROJECT) for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function project(label: string): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), `edgezoo-shard-${label}-`));
  dirs.push(root);
  await writeGeneratedZoo(root, 3);
  return root;
}

/** Every artifact file of a zoo (manifests, cards and the build's records aside), by relative path. */
async function artifactFiles(zoo: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const entry of await readdir(zoo, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || path.dirname(path.join(entry.parentPath, entry.name)) === zoo) continue;
    if (entry.name === 'manifest.json' || entry.name === 'README.md') continue;
    const full = path.join(entry.parentPath, entry.name);
    files.set(path.relative(zoo, full), await readFile(full));
  }
  return files;
}

test('a zoo built in two shards and merged equals the zoo one machine builds', { timeout: 4 * 60_000 }, async () => {
  const [single, shard1, shard2] = await Promise.all([project('single'), project('part1'), project('part2')]);
  const whole = await runCli(single, ['build', '--all']);
  assert.equal(whole.code, 0, whole.stdout + whole.stderr);
  const parts = await Promise.all([
    runCli(shard1, ['build', '--all', '--shard', '1/2']),
    runCli(shard2, ['build', '--all', '--shard', '2/2']),
  ]);
  const shares = parts.map((run, i) => {
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const line = run.stdout.split('\n').find((l) => l.startsWith(`shard ${i + 1}/2: `));
    assert.ok(line, run.stdout);
    return line.replace(/.*\((.*)\)$/, '$1').split(', ');
  });
  assert.deepEqual(shares.flat().sort(), ['gen-00', 'gen-01', 'gen-02']);

  const merged = path.join(path.dirname(single), `${path.basename(single)}-merged`);
  dirs.push(merged);
  const merge = await runCli(single, [
    'zoo',
    'merge',
    path.join(shard1, 'artifacts', 'zoo'),
    path.join(shard2, 'artifacts', 'zoo'),
    '--out',
    merged,
  ]);
  assert.equal(merge.code, 0, merge.stderr);
  assert.match(merge.stdout, /^merged 2 shard\(s\) into .*: 3 model version\(s\); index /);

  const singleZoo = path.join(single, 'artifacts', 'zoo');
  assert.deepEqual(zooIndexDifferences(await buildIndex(singleZoo), await buildIndex(merged)), []);
  const expected = await artifactFiles(singleZoo);
  const actual = await artifactFiles(merged);
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  assert.ok([...expected.keys()].filter((file) => file.endsWith('.onnx')).length === 6, [...expected.keys()].join());
  for (const [file, bytes] of expected) assert.ok(actual.get(file)!.equals(bytes), `${file} is byte-identical`);
  // The merged zoo carries the costs of the whole build, for the next partition.
  const costs = JSON.parse(await readFile(path.join(merged, 'build-costs.json'), 'utf8'));
  for (const model of ['gen-00', 'gen-01', 'gen-02']) assert.ok(costs.steps[`${model}/prepare`] > 0, model);
});
