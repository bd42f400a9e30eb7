/**
 * Scale simulation: a generated zoo of small ONNX models (test/fixtures/generated-zoo.ts) built
 *   1. by one process in its own project (the single-machine zoo, timed);
 *   2. by three shard processes at once (`build --all --shard K/3`), each in its own project copy
 *      with its own local cache, all sharing one remote cache: Debian's nginx with WebDAV on
 *      loopback (test/integration/nginx-cache-server.ts); timed from the first start to the last
 *      exit, then `zoo merge` of the three parts;
 *   3. by a fourth, clean project copy against the remote cache alone.
 * Prints the wall time of one process against the three shards, and checks (exit 1 on any miss):
 * every build succeeds; the clean copy runs no converter step (every step a remote hit); the
 * merged zoo equals the single-machine zoo (same index except each build's own measurements,
 * every artifact file byte-identical); the clean copy's zoo equals the merged one byte for byte.
 *
 *   node --import tsx scripts/scale-sim.ts [--models 12] [--shards 3] [--targets onnx/fp32,onnx/fp16,openvino/fp32] [--jobs N] [--keep]
 *
 * Measured here (2 cores, load average ~17 from other builds; 12 models x onnx fp32/fp16 +
 * openvino fp32, 156 steps): one process 93.2 s, three shards at once 58.5 s (1.59x), the clean
 * copy 5.0 s with 0 steps run (156 remote hits, 0 misses); merged == single (60 files
 * byte-identical), clean == merged byte for byte. 2 min 44 s in all.
 *
 * Needs the converter environments (`edgezoo setup`; EDGEZOO_ENVS_DIR is honoured) and
 * /usr/sbin/nginx (apt-get install nginx-light). On this 2-core machine shared with other
 * builds, the shards compete for the same two cores, so their wall time shows the overhead of
 * sharding more than its gain; on three runners each shard has its own cores.
 */
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildIndex, zooIndexDifferences } from '../src/zoo/index.js';
import { writeGeneratedZoo } from '../test/fixtures/generated-zoo.js';
import { nginxMissing, startNginxCache } from '../test/integration/nginx-cache-server.js';
import { benchOptions, machineLine, numberOption, requirement, summariseGoals } from './lib/bench.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(repo, 'src', 'cli', 'edgezoo.mjs');
const usage =
  'node --import tsx scripts/scale-sim.ts [--models 12] [--shards 3] [--targets onnx/fp32,onnx/fp16,openvino/fp32] [--jobs N] [--keep]';
const values = benchOptions(usage, {
  models: { type: 'string' },
  shards: { type: 'string' },
  targets: { type: 'string' },
  jobs: { type: 'string' },
  keep: { type: 'boolean' },
});
const modelCount = numberOption('models', values.models ?? '12');
const shardCount = numberOption('shards', values.shards ?? '3');
const jobs = values.jobs === undefined ? [] : ['--jobs', String(numberOption('jobs', values.jobs))];
const targetList = (values.targets ?? 'onnx/fp32,onnx/fp16,openvino/fp32').split(',').map((t) => t.trim());
const byFormat = new Map<string, string[]>();
for (const target of targetList) {
  const [format, precision] = target.split('/');
  if (!format || !precision) {
    console.error(`--targets: "${target}" is not format/precision\n${usage}`);
    process.exit(2);
  }
  byFormat.set(format, [...(byFormat.get(format) ?? []), precision]);
}
const targetLines = [...byFormat].map(([format, precisions]) => `  ${format}: [${precisions.join(', ')}]`);

if (nginxMissing) {
  console.error(`scale-sim needs the remote cache server: ${nginxMissing}`);
  process.exit(2);
}

interface BuildRun {
  label: string;
  code: number | null;
  seconds: number;
  /** Steps that ran here, by kind. */
  ran: Map<string, number>;
  cached: number;
  remote?: { hits: number; misses: number; uploaded: number };
  stderr: string;
}

/** `edgezoo <args> --json` in `root`, counting the steps it ran and served from a cache. */
function edgezoo(label: string, root: string, args: string[]): Promise<BuildRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [cli, ...args, '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const run: BuildRun = { label, code: null, seconds: 0, ran: new Map(), cached: 0, stderr: '' };
    let buffered = '';
    const take = (line: string) => {
      let event: { type?: string; kind?: string; hits?: number; misses?: number; uploaded?: number };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        return;
      }
      if (event.type === 'step-start') run.ran.set(event.kind!, (run.ran.get(event.kind!) ?? 0) + 1);
      else if (event.type === 'step-cached') run.cached++;
      else if (event.type === 'remote-cache')
        run.remote = { hits: event.hits ?? 0, misses: event.misses ?? 0, uploaded: event.uploaded ?? 0 };
    };
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) take(line);
    });
    child.stderr.on('data', (chunk: Buffer) => (run.stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (buffered) take(buffered);
      run.code = code;
      run.seconds = (performance.now() - started) / 1000;
      resolve(run);
    });
  });
}

function steps(run: BuildRun): number {
  return [...run.ran.values()].reduce((a, b) => a + b, 0);
}

function describe(run: BuildRun): string {
  const ran = [...run.ran].map(([kind, n]) => `${n} ${kind}`).join(', ') || 'none';
  const remote = run.remote
    ? `; remote cache ${run.remote.hits} hits, ${run.remote.misses} misses, ${run.remote.uploaded} uploads`
    : '';
  return `${run.label}: ${run.seconds.toFixed(1)} s, exit ${run.code}; ran ${steps(run)} steps (${ran}), ${run.cached} cached${remote}`;
}

/** Every file under a zoo except the records of each build (index, status, costs, shard). */
async function zooFiles(zoo: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const records = new Set(['index.json', 'build-status.json', 'build-costs.json', 'shard.json']);
  for (const entry of await readdir(zoo, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    const relative = path.relative(zoo, full);
    if (!records.has(relative)) files.set(relative, await readFile(full));
  }
  return files;
}

function differingFiles(a: Map<string, Buffer>, b: Map<string, Buffer>, skip: (file: string) => boolean): string[] {
  const names = new Set([...a.keys(), ...b.keys()]);
  return [...names].filter((name) => !skip(name) && !(a.get(name) && b.get(name)?.equals(a.get(name)!))).sort();
}

console.log(machineLine());
const base = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-scale-sim-'));
const server = await startNginxCache();
try {
  const template = path.join(base, 'template');
  const names = await writeGeneratedZoo(template, modelCount, { targets: targetLines });
  console.log(`generated zoo: ${names.length} models (${targetList.join(', ')}) in ${template}`);
  const copies = ['single', ...Array.from({ length: shardCount }, (_, i) => `shard-${i + 1}`), 'clean'];
  for (const name of copies) await cp(template, path.join(base, name), { recursive: true });
  const zooOf = (name: string) => path.join(base, name, 'artifacts', 'zoo');

  const single = await edgezoo('one process', path.join(base, 'single'), ['build', '--all', ...jobs]);
  console.log(describe(single));

  const shardsStarted = performance.now();
  const shards = await Promise.all(
    Array.from({ length: shardCount }, (_, i) =>
      edgezoo(`shard ${i + 1}/${shardCount}`, path.join(base, `shard-${i + 1}`), [
        'build',
        '--all',
        '--shard',
        `${i + 1}/${shardCount}`,
        '--remote-cache',
        server.url,
        ...jobs,
      ]),
    ),
  );
  const shardsSeconds = (performance.now() - shardsStarted) / 1000;
  for (const run of shards) console.log(describe(run));
  const merged = path.join(base, 'merged');
  const merge = await edgezoo('merge', template, [
    'zoo',
    'merge',
    ...shards.map((_, i) => zooOf(`shard-${i + 1}`)),
    '--out',
    merged,
  ]);

  const clean = await edgezoo('clean copy', path.join(base, 'clean'), [
    'build',
    '--all',
    '--remote-cache',
    server.url,
    ...jobs,
  ]);
  console.log(describe(clean));

  console.log(
    `wall time: one process ${single.seconds.toFixed(1)} s, ${shardCount} shards at once ${shardsSeconds.toFixed(1)} s (${(single.seconds / shardsSeconds).toFixed(2)}x; slowest shard ${Math.max(...shards.map((s) => s.seconds)).toFixed(1)} s, fastest ${Math.min(...shards.map((s) => s.seconds)).toFixed(1)} s)`,
  );
  const allBuilt = [single, ...shards, merge, clean].every((run) => run.code === 0);
  requirement(
    'every build and the merge succeeded',
    allBuilt,
    [single, ...shards, merge, clean].map((run) => `${run.label} exit ${run.code}`).join(', '),
  );
  if (!allBuilt)
    for (const run of [single, ...shards, merge, clean])
      if (run.code !== 0) console.error(`${run.label} stderr:\n${run.stderr.slice(-2000)}`);
  const shardModels = shards.reduce((sum, run) => sum + (run.ran.get('package') ?? 0), 0);
  requirement(
    'the shards built every model once',
    shardModels === modelCount,
    `${shardModels} of ${modelCount} packaged`,
  );
  const cleanConverts = clean.ran.get('convert') ?? 0;
  requirement(
    'the clean copy runs 0 converter steps (all remote hits)',
    cleanConverts === 0 && steps(clean) === 0 && clean.remote?.misses === 0,
    `${cleanConverts} convert steps, ${steps(clean)} steps in all ran; ${clean.remote?.hits ?? 0} remote hits, ${clean.remote?.misses ?? '?'} misses`,
  );

  if (merge.code === 0 && single.code === 0) {
    const differences = zooIndexDifferences(await buildIndex(zooOf('single')), await buildIndex(merged));
    const files = differingFiles(
      await zooFiles(zooOf('single')),
      await zooFiles(merged),
      // Manifests and cards carry each machine's benchmark figures; the index comparison covers them.
      (file) => file.endsWith('manifest.json') || file.endsWith('README.md'),
    );
    const artifacts = [...(await zooFiles(merged)).keys()].filter((f) => !/(manifest\.json|README\.md)$/.test(f));
    requirement(
      'merged zoo == single-machine zoo',
      differences.length === 0 && files.length === 0,
      differences.length + files.length === 0
        ? `same index (build measurements aside), ${artifacts.length} files byte-identical`
        : `${[...differences, ...files.map((f) => `${f} differs`)].slice(0, 5).join('; ')}`,
    );
  }
  if (merge.code === 0 && clean.code === 0) {
    const files = differingFiles(await zooFiles(merged), await zooFiles(zooOf('clean')), () => false);
    requirement(
      "clean copy's zoo == merged zoo byte for byte",
      files.length === 0,
      files.length === 0 ? 'every file identical' : `${files.slice(0, 5).join(', ')} differ`,
    );
  }
} finally {
  await server.stop();
  if (values.keep) console.log(`kept ${base}`);
  else await rm(base, { recursive: true, force: true });
}
summariseGoals();
