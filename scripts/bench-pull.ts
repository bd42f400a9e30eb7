/**
 * Pull throughput of one 200 MB artifact from a loopback static zoo, against curl fetching the
 * same file from the same server in the same run. Goal: pull >= 80 % of curl.
 * Run: node --import tsx scripts/bench-pull.ts [sizeMB]
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DirectoryPublisher, loadIndex, pullArtifacts, resolvePull } from '../src/publish/index.js';
import { writeSampleVersion } from '../src/zoo/sample.js';

const sizeMb = Number(process.argv[2] ?? '200');
const root = await mkdtemp(path.join(tmpdir(), 'edgezoo-bench-'));
try {
  const zoo = path.join(root, 'zoo');
  const site = path.join(root, 'site');
  await writeSampleVersion(zoo, 'bench-net', '1.0.0', [{ format: 'onnx', precision: 'fp32', size: sizeMb * 1024 * 1024 }]);
  await new DirectoryPublisher(site).publish(zoo, {});
  const server = http.createServer(async (req, res) => {
    const file = path.join(site, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    try {
      const info = await stat(file);
      res.writeHead(200, { 'content-length': info.size, etag: `"${info.mtimeMs}-${info.size}"` });
      createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const url = `${base}/bench-net/1.0.0/bench-net-1.0.0-onnx-fp32.onnx`;
  const bytes = sizeMb * 1024 * 1024;

  const runs: Array<{ pull: number; curl: number }> = [];
  for (let i = 0; i < 3; i++) {
    const out = path.join(root, `out-${i}`);
    const loaded = await loadIndex(new URL(`${base}/index.json`));
    const t0 = performance.now();
    await pullArtifacts(loaded, resolvePull(loaded.index, { name: 'bench-net' }), { outDir: out });
    const pullSeconds = (performance.now() - t0) / 1000;
    // Note: the server runs in this process, so pull (also in this process) shares its event
    // loop and cores with it, while curl runs in its own process: the comparison favours curl.
    const curlSeconds = await timeCurl(url, path.join(root, `curl-${i}.bin`));
    runs.push({ pull: bytes / pullSeconds / 1e6, curl: bytes / curlSeconds / 1e6 });
    await rm(out, { recursive: true, force: true });
  }
  server.close();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const pull = median(runs.map((r) => r.pull));
  const curl = median(runs.map((r) => r.curl));
  console.log(`artifact ${sizeMb} MiB, 3 runs, median: edgezoo pull ${pull.toFixed(0)} MB/s (incl. sha256 verify), curl ${curl.toFixed(0)} MB/s; pull/curl = ${((pull / curl) * 100).toFixed(0)} % (goal >= 80 %)`);
} finally {
  await rm(root, { recursive: true, force: true });
}

function timeCurl(url: string, out: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('curl', ['-s', '-f', '-o', out, url], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve((performance.now() - t0) / 1000) : reject(new Error(`curl exited ${code}`))));
  });
}
