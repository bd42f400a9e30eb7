import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { LocalCache, type CacheProblem } from '../../src/cache/index.js';
import { cachedPiece, QUANT_ATTEMPTS_DIR } from '../../src/quant/attempt-cache.js';
import { cacheAttemptStore } from '../../src/build/attempt-store.js';
import type { Fingerprint } from '../../src/plan/index.js';

const temporaryDirs: string[] = [];
after(async () => {
  for (const dir of temporaryDirs) await rm(dir, { recursive: true, force: true });
});
async function freshCache(options: ConstructorParameters<typeof LocalCache>[1] = {}): Promise<LocalCache> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-cache-'));
  temporaryDirs.push(dir);
  return new LocalCache(path.join(dir, 'cache'), options);
}
const fingerprint = (char: string) => char.repeat(64) as Fingerprint;

async function putFiles(cache: LocalCache, fp: Fingerprint, files: Record<string, string>) {
  const pending = await cache.begin();
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(pending.outDir, name)), { recursive: true });
    await writeFile(path.join(pending.outDir, name), content);
  }
  return cache.put(fp, pending, { stepId: 'm/convert/onnx/fp32', result: { status: 'ok' } });
}

/** Flips one byte in place, the way a stray write or a bad copy would. */
async function flipByte(file: string, at = 0) {
  await chmod(file, 0o644);
  const bytes = await readFile(file);
  bytes[at] = bytes[at]! ^ 0xff;
  await writeFile(file, bytes);
}

describe('LocalCache', () => {
  it('stores outputs under the fingerprint and serves them back with their result', async () => {
    const cache = await freshCache();
    const fp = fingerprint('1');
    assert.equal(await cache.get(fp), undefined);
    const entry = await putFiles(cache, fp, { 'model.onnx': 'onnx bytes', 'sub/report.json': '{}' });
    assert.deepEqual(entry.files, ['model.onnx', 'sub/report.json']);
    const again = await cache.get(fp);
    assert.ok(again);
    assert.equal(await readFile(path.join(again.dir, 'model.onnx'), 'utf8'), 'onnx bytes');
    assert.deepEqual(again.result, { status: 'ok' });
    assert.equal((await stat(path.join(again.dir, 'model.onnx'))).mode & 0o222, 0, 'sealed files are read-only');
    assert.deepEqual(
      (await readdir(cache.root)).filter((name) => name.startsWith('.tmp-')),
      [],
      'no temporary folder left',
    );
  });

  it('detects a flipped byte, evicts the entry and answers a miss', async () => {
    const problems: CacheProblem[] = [];
    const cache = await freshCache({ onEvict: (problem) => problems.push(problem) });
    const fp = fingerprint('2');
    const entry = await putFiles(cache, fp, { 'model.tflite': 'x'.repeat(4096) });
    await flipByte(path.join(entry.dir, 'model.tflite'), 100);
    assert.equal(await cache.get(fp), undefined);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.problem, /^model\.tflite has sha256 [0-9a-f]{12}…, [0-9a-f]{12}… expected$/);
    assert.deepEqual(await cache.list(), [], 'the corrupt entry is gone');
  });

  it('detects a flipped byte even when the mtime was put back (ctime cannot be)', async () => {
    const cache = await freshCache();
    const fp = fingerprint('3');
    const entry = await putFiles(cache, fp, { 'a.bin': 'abcdefgh' });
    const file = path.join(entry.dir, 'a.bin');
    const before = await stat(file);
    // `touch -r` copies the nanoseconds too, which Node's utimes cannot.
    const reference = path.join(path.dirname(cache.root), 'reference');
    await writeFile(reference, '');
    execFileSync('touch', ['-r', file, reference]);
    await flipByte(file, 3);
    execFileSync('touch', ['-r', reference, file]);
    assert.equal((await stat(file)).mtimeMs, before.mtimeMs);
    assert.equal((await stat(file)).size, before.size);
    assert.equal(await cache.get(fp), undefined);
  });

  it('trusts a touched file whose bytes are unchanged, and re-records its stat', async () => {
    const cache = await freshCache();
    const fp = fingerprint('4');
    const entry = await putFiles(cache, fp, { 'a.bin': 'same bytes' });
    await utimes(path.join(entry.dir, 'a.bin'), new Date(), new Date(Date.now() + 5000));
    assert.ok(await cache.get(fp));
    const record = JSON.parse(await readFile(path.join(cache.entryDir(fp), 'entry.json'), 'utf8'));
    assert.equal(record.files[0].mtimeMs, (await stat(path.join(entry.dir, 'a.bin'))).mtimeMs);
  });

  it('treats a missing or resized file and a broken entry.json as corrupt', async () => {
    const cache = await freshCache();
    const missing = await putFiles(cache, fingerprint('5'), { 'a.bin': 'a', 'b.bin': 'b' });
    await rm(path.join(missing.dir, 'b.bin'));
    const truncated = await putFiles(cache, fingerprint('6'), { 'a.bin': 'abc' });
    await chmod(path.join(truncated.dir, 'a.bin'), 0o644);
    await writeFile(path.join(truncated.dir, 'a.bin'), 'ab');
    await putFiles(cache, fingerprint('7'), { 'a.bin': 'abc' });
    await writeFile(path.join(cache.entryDir(fingerprint('7')), 'entry.json'), '{"format":');
    const report = await cache.verifyAll();
    assert.deepEqual(report.corrupt, [
      { fingerprint: fingerprint('5'), problem: 'b.bin is missing' },
      { fingerprint: fingerprint('6'), problem: 'a.bin has 2 bytes, 3 expected' },
      { fingerprint: fingerprint('7'), problem: 'entry.json is not valid JSON' },
    ]);
    assert.equal(report.checked, 3);
    assert.equal((await cache.verifyAll({ fix: true })).corrupt.length, 3);
    assert.deepEqual(await cache.list(), []);
  });

  it('keeps the first of two puts of one fingerprint and deletes the other', async () => {
    const cache = await freshCache();
    const fp = fingerprint('8');
    const [first, second] = await Promise.all([
      putFiles(cache, fp, { 'a.bin': 'same' }),
      putFiles(cache, fp, { 'a.bin': 'same' }),
    ]);
    assert.equal(first.dir, second.dir);
    assert.deepEqual(await cache.list(), [fp]);
    assert.deepEqual(
      (await readdir(cache.root)).filter((name) => name.startsWith('.')),
      [],
    );
    assert.equal((await cache.verifyAll()).corrupt.length, 0);
  });

  it('replaces an entry on a forced put', async () => {
    const cache = await freshCache();
    const fp = fingerprint('9');
    await putFiles(cache, fp, { 'a.bin': 'old' });
    const pending = await cache.begin();
    await writeFile(path.join(pending.outDir, 'a.bin'), 'new');
    const entry = await cache.put(fp, pending, { stepId: 's', result: { status: 'ok' }, replace: true });
    assert.equal(await readFile(path.join(entry.dir, 'a.bin'), 'utf8'), 'new');
  });

  it('discards a pending entry without a trace', async () => {
    const cache = await freshCache();
    const pending = await cache.begin();
    await writeFile(path.join(pending.outDir, 'half.bin'), 'half');
    await pending.discard();
    assert.deepEqual(await readdir(cache.root), []);
  });

  it('gc removes unreferenced entries and temporary folders of dead processes, not live ones', async () => {
    const cache = await freshCache();
    await putFiles(cache, fingerprint('a'), { 'keep.bin': 'k' });
    await putFiles(cache, fingerprint('b'), { 'drop.bin': 'dropped!' });
    // A builder that died (pid 999999 does not exist) and one that is alive (this process).
    await mkdir(path.join(cache.root, '.tmp-999999-dead', 'out'), { recursive: true });
    await writeFile(path.join(cache.root, '.tmp-999999-dead', 'out', 'x'), '1234');
    const alive = await cache.begin();
    const keep = new Set([fingerprint('a')]);

    const dry = await cache.gc(keep, { dryRun: true });
    assert.deepEqual(dry.entries, [
      {
        fingerprint: fingerprint('b'),
        bytes: 8 + (await stat(path.join(cache.entryDir(fingerprint('b')), 'entry.json'))).size,
      },
    ]);
    assert.deepEqual(dry.temporaries, [{ name: '.tmp-999999-dead', bytes: 4 }]);
    assert.equal((await cache.list()).length, 2, 'dry run removes nothing');

    const report = await cache.gc(keep);
    assert.equal(report.freedBytes, dry.freedBytes);
    assert.deepEqual(await cache.list(), [fingerprint('a')]);
    const left = await readdir(cache.root);
    assert.ok(left.includes(path.basename(path.dirname(alive.outDir))), 'a live build keeps its folder');
    assert.ok(!left.includes('.tmp-999999-dead'));
    // ...unless it is older than the limit.
    const old = await cache.gc(keep, { staleAfterMs: 0, now: Date.now() + 1000 });
    assert.equal(old.temporaries.length, 1);
  });

  it('gc keeps a remembered failed attempt while a planned step has its conversion, not after', async () => {
    const cache = await freshCache();
    const store = cacheAttemptStore(cache);
    const record = {
      converter: 'litert-torch',
      strategy: 'default',
      outcome: 'failed' as const,
      stage: 'convert' as const,
      reason: 'no',
      seconds: 1,
    };
    await store.remember(
      fingerprint('f'),
      { record },
      { stepId: 'm/convert/tflite/fp32', conversionKey: fingerprint('c') },
    );
    assert.deepEqual((await store.recall(fingerprint('f')))?.record, record);
    await cache.gc(new Set(), { keepConversions: new Set([fingerprint('c')]) });
    assert.deepEqual(await cache.list(), [fingerprint('f')]);
    await cache.gc(new Set(), { keepConversions: new Set([fingerprint('d')]) });
    assert.deepEqual(await cache.list(), []);
    assert.equal(await store.recall(fingerprint('f')), undefined);
    // A forced build recalls nothing.
    await store.remember(
      fingerprint('f'),
      { record },
      { stepId: 'm/convert/tflite/fp32', conversionKey: fingerprint('c') },
    );
    assert.equal(await cacheAttemptStore(cache, { force: true }).recall(fingerprint('f')), undefined);
  });

  it("gc keeps the quantization search's pieces of kept steps only; a re-run takes a kept piece", async () => {
    const cache = await freshCache();
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-pieces-'));
    temporaryDirs.push(scratch);
    const lines: string[] = [];
    const job = (step: string) => ({ attemptCache: { dir: cache.root, key: step }, log: (l: string) => lines.push(l) });
    let made = 0;
    const make = (file: string, text: string) => async () => {
      made += 1;
      await writeFile(file, text);
      return { text };
    };
    const file = path.join(scratch, 'model.bin');
    assert.deepEqual(await cachedPiece(job(fingerprint('a')), { n: 1 }, 'a piece', [file], make(file, 'A')), {
      text: 'A',
    });
    await cachedPiece(job(fingerprint('b')), { n: 1 }, 'a piece', [file], make(file, 'B'));
    await rm(file);
    // The same step and piece again: the file comes back from the cache, nothing is made.
    assert.deepEqual(await cachedPiece(job(fingerprint('a')), { n: 1 }, 'a piece', [file], make(file, 'X')), {
      text: 'A',
    });
    assert.equal(made, 2);
    assert.equal(await readFile(file, 'utf8'), 'A');
    assert.match(lines.join('\n'), /a piece from the attempt cache/);
    const report = await cache.gc(new Set([fingerprint('a')]));
    assert.equal(report.temporaries.length, 1);
    assert.match(report.temporaries[0]!.name, /^\.quant-attempts\//);
    assert.equal((await readdir(path.join(cache.root, QUANT_ATTEMPTS_DIR))).length, 1);
    await cachedPiece(job(fingerprint('a')), { n: 1 }, 'a piece', [file], make(file, 'X'));
    assert.equal(made, 2, 'the kept piece is still served');
  });
});
