/**
 * Compares downloadToFile with curl on a large file served from 127.0.0.1 by a separate process
 * (so the server does not share the client's event loop). Goal, as for `pull`: at least 80 % of
 * the throughput of curl + sha256sum (downloadToFile verifies the sha256 as it downloads).
 * Usage: node --import tsx scripts/bench-fetch.ts [--mib 200] [--runs 3]
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { downloadToFile } from '../src/fetch/index.js';
import { benchOptions, goal, machineLine, median, numberOption, summariseGoals } from './lib/bench.js';

const options = benchOptions('node --import tsx scripts/bench-fetch.ts [--mib 200] [--runs 3]', {
  mib: { type: 'string', default: '200' },
  runs: { type: 'string', default: '3' },
});
const sizeMiB = numberOption('mib', options.mib);
const runs = numberOption('runs', options.runs);
const dir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-bench-'));
const source = path.join(dir, 'blob.bin');
const hash = createHash('sha256');
const chunks: Buffer[] = [];
for (let i = 0; i < sizeMiB; i++) {
  const chunk = randomBytes(1 << 20);
  hash.update(chunk);
  chunks.push(chunk);
}
await writeFile(source, Buffer.concat(chunks));
chunks.length = 0;
const sha256 = hash.digest('hex');

const serverCode = `
const http = require('node:http'), fs = require('node:fs');
const file = process.argv[1]; const size = fs.statSync(file).size;
http.createServer((req, res) => {
  res.writeHead(200, { 'content-length': size, etag: '"bench"' });
  fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res);
}).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`;
const server = spawn(process.execPath, ['-e', serverCode, source], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise<number>((resolve) =>
  server.stdout.once('data', (data: Buffer) => resolve(Number(String(data).trim()))),
);
const url = `http://127.0.0.1:${port}/blob.bin`;

const rate = (ms: number): string => `${((sizeMiB / ms) * 1000).toFixed(0)} MiB/s (${ms.toFixed(0)} ms)`;

const curlMs: number[] = [];
const curlShaMs: number[] = [];
const oursMs: number[] = [];
for (let run = 0; run < runs; run++) {
  const curlOut = path.join(dir, 'curl.bin');
  let start = performance.now();
  spawnSync('curl', ['-sS', '-o', curlOut, url], { stdio: 'inherit' });
  curlMs.push(performance.now() - start);
  spawnSync('sha256sum', [curlOut], { stdio: 'ignore' });
  curlShaMs.push(performance.now() - start);
  await rm(curlOut, { force: true });

  const ours = path.join(dir, 'ours.bin');
  start = performance.now();
  await downloadToFile({ url, destination: ours, sha256 });
  oursMs.push(performance.now() - start);
  await rm(ours, { force: true });
}
server.kill();
await rm(dir, { recursive: true, force: true });
console.log(`file: ${sizeMiB} MiB over loopback, median of ${runs}`);
console.log(`curl -o:                 ${rate(median(curlMs))}`);
console.log(`curl -o + sha256sum:     ${rate(median(curlShaMs))}`);
console.log(`downloadToFile + sha256: ${rate(median(oursMs))}`);
goal('downloadToFile throughput against curl + sha256sum', (median(curlShaMs) / median(oursMs)) * 100, '>=', 80, '%');
console.log(machineLine());
summariseGoals();
