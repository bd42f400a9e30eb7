/**
 * Pull throughput of one large artifact from a loopback static zoo, against curl fetching the
 * same file from the same server. Goal: pull >= 80 % of curl.
 *
 * The server runs in a child process, so neither client shares an event loop with it (an
 * in-process server halved pull's figure: pull and the server took turns on one thread, while
 * curl had its own process). Each run times a pull (index read, download, sha256 verify, rename)
 * and a curl of the same file, alternating which goes first; figures are the median of the runs.
 * `curl + sha256sum` is shown too: what a user needs to get the same guarantee by hand.
 *
 * The pull is timed inside a fresh process (loading the index, downloading, verifying, renaming;
 * not the process start), as a user's `edgezoo pull` runs.
 *
 * Run: node --import tsx scripts/bench-pull.ts [--mib 200] [--runs 3]
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DirectoryPublisher, loadIndex, pullArtifacts, resolvePull } from '../src/publish/index.js';
import { writeSampleVersion } from '../test/fixtures/sample-zoo.js';
import { benchOptions, goal, machineLine, median, numberOption, summariseGoals } from './lib/bench.js';

if (process.argv[2] === '--pull-once') {
  // Measuring mode: one pull in a fresh process, as a user's `edgezoo pull` runs. Timing in the
  // process that generated the sample zoo read ~70 % more CPU per pull (its millions of small
  // sha256 calls while making the sample bytes leave hashing slower afterwards), so it is kept apart.
  const [indexUrl, outDir] = process.argv.slice(3) as [string, string];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const loaded = await loadIndex(new URL(indexUrl));
  await pullArtifacts(loaded, resolvePull(loaded.index, { name: 'bench-net' }), { outDir });
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 }));
  process.exit(0);
}

const options = benchOptions('node --import tsx scripts/bench-pull.ts [--mib 200] [--runs 3]', {
  mib: { type: 'string', default: '200' },
  runs: { type: 'string', default: '3' },
});
const sizeMiB = numberOption('mib', options.mib);
const runCount = numberOption('runs', options.runs);

/** A static file server over one folder, as plain JavaScript for `node -e`; prints its port. */
const STATIC_SERVER = `
const http = require('node:http'), fs = require('node:fs'), path = require('node:path');
const root = process.argv[1];
http.createServer((req, res) => {
  const file = path.join(root, decodeURIComponent(new URL(req.url, 'http://x').pathname));
  fs.stat(file, (error, info) => {
    if (error || !info.isFile()) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': info.size, etag: '"' + info.mtimeMs + '-' + info.size + '"' });
    fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res);
  });
}).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`;

const root = await mkdtemp(path.join(tmpdir(), 'edgezoo-bench-'));
const server = { kill: () => {} } as { kill: () => void };
try {
  const zoo = path.join(root, 'zoo');
  const site = path.join(root, 'site');
  await writeSampleVersion(zoo, 'bench-net', '1.0.0', [
    { format: 'onnx', precision: 'fp32', size: sizeMiB * 1024 * 1024 },
  ]);
  await new DirectoryPublisher(site).publish(zoo, {});
  // Setting up wrote the artifact three times (build input, zoo, site): flush it now, so its
  // writeback does not compete with the timed downloads.
  spawnSync('sync');
  const child = spawn(process.execPath, ['-e', STATIC_SERVER, site], { stdio: ['ignore', 'pipe', 'inherit'] });
  server.kill = () => child.kill();
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (data: Buffer) => resolve(Number(String(data).trim())));
  });
  const base = `http://127.0.0.1:${port}`;
  const url = `${base}/bench-net/1.0.0/bench-net-1.0.0-onnx-fp32.onnx`;
  const bytes = sizeMiB * 1024 * 1024;

  const timePull = async (out: string): Promise<Timing> => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        import.meta.resolve('tsx'),
        fileURLToPath(import.meta.url),
        '--pull-once',
        `${base}/index.json`,
        out,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    const [code] = (await once(child, 'close')) as [number | null];
    if (code !== 0) throw new Error(`the measuring pull exited ${code}`);
    return JSON.parse(stdout) as Timing;
  };

  const runs: Array<{ pull: Timing; curl: Timing; sha256sum: Timing }> = [];
  for (let i = 0; i < runCount; i++) {
    const out = path.join(root, `out-${i}`);
    const curlOut = path.join(root, `curl-${i}.bin`);
    const curl = () => timeCommand(`curl -s -f -o '${curlOut}' '${url}'`);
    // Alternate who goes first, so a change of machine load between the two shows up in both.
    const [pull, curlTiming] =
      i % 2 === 0
        ? [await timePull(out), await curl()]
        : await curl().then(async (c) => [await timePull(out), c] as const);
    const sha256sum = await timeCommand(`sha256sum '${curlOut}' > /dev/null`);
    runs.push({ pull, curl: curlTiming, sha256sum });
    await rm(out, { recursive: true, force: true });
    await rm(curlOut, { force: true });
  }
  const mb = bytes / 1e6;
  for (const [i, r] of runs.entries()) {
    console.log(
      `run ${i + 1}: pull ${(mb / r.pull.seconds).toFixed(0)} MB/s (cpu ${(r.pull.cpuSeconds * 1000).toFixed(0)} ms), curl ${(mb / r.curl.seconds).toFixed(0)} MB/s (cpu ${(r.curl.cpuSeconds * 1000).toFixed(0)} ms), ` +
        `pull/curl ${((r.curl.seconds / r.pull.seconds) * 100).toFixed(0)} %; curl+sha256sum ${(mb / (r.curl.seconds + r.sha256sum.seconds)).toFixed(0)} MB/s`,
    );
  }
  const pull = median(runs.map((r) => mb / r.pull.seconds));
  const curl = median(runs.map((r) => mb / r.curl.seconds));
  const curlSha = median(runs.map((r) => mb / (r.curl.seconds + r.sha256sum.seconds)));
  const pairRatio = median(runs.map((r) => r.curl.seconds / r.pull.seconds));
  const cpuPerGb = (t: Timing) => (t.cpuSeconds * 1000) / (mb / 1000);
  console.log(
    `artifact ${sizeMiB} MiB, server in a child process, median of ${runCount} runs: edgezoo pull ${pull.toFixed(0)} MB/s (fresh process; index, download, sha256 verify, rename), curl ${curl.toFixed(0)} MB/s, ` +
      `curl+sha256sum ${curlSha.toFixed(0)} MB/s; median of per-run pull/curl ratios ${(pairRatio * 100).toFixed(0)} %; ` +
      `cpu per GB: pull ${median(runs.map((r) => cpuPerGb(r.pull))).toFixed(0)} ms, curl ${median(runs.map((r) => cpuPerGb(r.curl))).toFixed(0)} ms`,
  );
  goal('pull throughput against curl', (pull / curl) * 100, '>=', 80, '%');
  console.log(machineLine());
  summariseGoals();
} finally {
  server.kill();
  await rm(root, { recursive: true, force: true });
}

interface Timing {
  seconds: number;
  /** User + system CPU time spent by the client. */
  cpuSeconds: number;
}

/** Times a shell command; its CPU time comes from bash's `time` (user + sys of the command). */
function timeCommand(command: string): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('bash', ['-c', `TIMEFORMAT='%U %S'; time (${command})`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - t0) / 1000;
      const cpu = /([\d.]+) ([\d.]+)\s*$/.exec(stderr);
      if (code !== 0 || !cpu) return reject(new Error(`${command} exited ${code}: ${stderr}`));
      resolve({ seconds, cpuSeconds: Number(cpu[1]) + Number(cpu[2]) });
    });
  });
}
