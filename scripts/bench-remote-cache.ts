/**
 * The remote cache moving one large entry through real nginx (WebDAV) on loopback: upload from
 * one local cache, download into another, each verified by sha256 on the way; beside it, curl
 * doing the same PUT and GET (+ sha256sum) as the floor. Goal: memory stays flat whatever the
 * file size (files are streamed, never buffered): the process's peak RSS grows by less than
 * 64 MiB over its resting size during each transfer. Exits 1 when the goal is missed.
 * Usage: node --import tsx scripts/bench-remote-cache.ts [sizeMiB=256]
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalCache, RemoteCache } from '../src/cache/index.js';
import type { Fingerprint } from '../src/plan/index.js';
import { nginxMissing, startNginxCache } from '../test/integration/nginx-cache-server.js';

const sizeMiB = Number(process.argv[2] ?? 256);
const GOAL_RSS_GROWTH_MIB = 64;
if (nginxMissing) {
  console.error(nginxMissing);
  process.exit(1);
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-bench-remote-'));
const server = await startNginxCache();
const fingerprint = 'b'.repeat(64) as Fingerprint;

/** Runs `work` while sampling RSS every 5 ms; returns its time and the peak RSS growth in MiB. */
async function measure(work: () => Promise<unknown>): Promise<{ ms: number; growthMiB: number }> {
  global.gc?.();
  const resting = process.memoryUsage().rss;
  let peak = resting;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  const start = performance.now();
  await work();
  const ms = performance.now() - start;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  return { ms, growthMiB: (peak - resting) / 1024 / 1024 };
}

const rate = (ms: number) => `${((sizeMiB / ms) * 1000).toFixed(0)} MiB/s (${ms.toFixed(0)} ms)`;

try {
  // The entry: one large file written 1 MiB at a time (never whole in memory) and a small one.
  const uploader = new RemoteCache(new LocalCache(path.join(dir, 'a')), {
    url: new URL(server.url),
    onWarning: (message) => console.error(`warning: ${message}`),
  });
  const pending = await uploader.begin();
  const large = path.join(pending.outDir, 'model.bin');
  const out = createWriteStream(large);
  for (let i = 0; i < sizeMiB; i++) if (!out.write(randomBytes(1 << 20))) await once(out, 'drain');
  await new Promise<void>((resolve) => out.end(() => resolve()));
  await writeFile(path.join(pending.outDir, 'artifact.json'), 'small');

  let sealedDir = '';
  const upload = await measure(async () => {
    sealedDir = (await uploader.put(fingerprint, pending, { stepId: 'bench/convert', result: { status: 'ok' } })).dir;
    await uploader.flush();
  });
  const uploaded = uploader.stats();
  uploader.close();
  if (uploaded.uploaded !== 1) throw new Error(`the entry was not uploaded: ${JSON.stringify(uploaded)}`);

  const downloader = new RemoteCache(new LocalCache(path.join(dir, 'b')), {
    url: new URL(server.url),
    onWarning: (message) => console.error(`warning: ${message}`),
  });
  const download = await measure(async () => {
    if (!(await downloader.get(fingerprint))) throw new Error('the entry was not found on the server');
  });
  downloader.close();

  const source = path.join(sealedDir, 'model.bin');
  // Control: reading the file whole must show as growth, or the sampling above proves nothing.
  const control = await measure(async () => {
    const whole = await readFile(source);
    if (whole.length !== sizeMiB << 20) throw new Error('short read');
  });
  const curlTarget = `${server.url}cas/curl-reference`;
  const curlPut = await measure(async () => {
    spawnSync('curl', ['-sS', '-T', source, curlTarget], { stdio: 'inherit' });
  });
  const curlGet = await measure(async () => {
    spawnSync('sh', ['-c', `curl -sS "${curlTarget}" | sha256sum >/dev/null`], { stdio: 'inherit' });
  });

  console.log(`entry: ${sizeMiB} MiB file + 5 bytes, nginx on loopback, ${os.availableParallelism()} cores`);
  console.log(
    `upload   (seal + HEAD + PUT, hashed while sent): ${rate(upload.ms)}, peak RSS +${upload.growthMiB.toFixed(0)} MiB`,
  );
  console.log(
    `download (GET, hashed while written, then sealed): ${rate(download.ms)}, peak RSS +${download.growthMiB.toFixed(0)} MiB`,
  );
  console.log(`control: readFile of the whole file: peak RSS +${control.growthMiB.toFixed(0)} MiB`);
  console.log(`curl -T:                  ${rate(curlPut.ms)}`);
  console.log(`curl GET | sha256sum:     ${rate(curlGet.ms)}`);
  const worst = Math.max(upload.growthMiB, download.growthMiB);
  if (control.growthMiB < sizeMiB / 2) {
    console.log(
      `MISSED: the control grew by only ${control.growthMiB.toFixed(0)} MiB; the RSS sampling is not measuring`,
    );
    process.exitCode = 1;
  } else if (worst >= GOAL_RSS_GROWTH_MIB) {
    console.log(`MISSED: peak RSS grew by ${worst.toFixed(0)} MiB, goal < ${GOAL_RSS_GROWTH_MIB} MiB`);
    process.exitCode = 1;
  } else {
    console.log(`ok: peak RSS growth ${worst.toFixed(0)} MiB < ${GOAL_RSS_GROWTH_MIB} MiB for a ${sizeMiB} MiB file`);
  }
} finally {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}
