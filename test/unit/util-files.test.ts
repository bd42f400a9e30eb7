/** Small shared helpers of src/util: atomic writes, hashing, sizes, process facts. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { copyFileAtomic, replaceAtomically, writeFileAtomic } from '../../src/util/atomic-write.js';
import { formatBytes } from '../../src/util/format.js';
import { sha256File, sha256FileWithSize, sha256Hex } from '../../src/util/hash.js';
import { processAlive, processStartTime } from '../../src/util/process-info.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-util-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('atomic writes leave the target complete and no temporary behind, also when they fail', async () => {
  const target = path.join(dir, 'nested', 'a.json');
  await writeFileAtomic(target, '{"a":1}');
  await Promise.all([writeFileAtomic(target, 'first'), writeFileAtomic(target, 'second')]);
  assert.match(readFileSync(target, 'utf8'), /^(first|second)$/);
  const copy = path.join(dir, 'nested', 'b.json');
  assert.equal(await copyFileAtomic(target, copy), readFileSync(target).length);
  await assert.rejects(copyFileAtomic(path.join(dir, 'missing'), copy), { code: 'ENOENT' });
  assert.equal(readFileSync(copy, 'utf8'), readFileSync(target, 'utf8'), 'a failed copy keeps the old bytes');
  assert.deepEqual(readdirSync(path.join(dir, 'nested')).sort(), ['a.json', 'b.json']);
});

test('a folder is replaced whole', async () => {
  const folder = path.join(dir, 'outputs');
  mkdirSync(folder);
  writeFileSync(path.join(folder, 'old.npy'), 'old');
  await replaceAtomically(folder, async (temporary) => {
    mkdirSync(temporary);
    writeFileSync(path.join(temporary, 'new.npy'), 'new');
  });
  assert.deepEqual(readdirSync(folder), ['new.npy']);
  await assert.rejects(
    replaceAtomically(folder, async (temporary) => {
      mkdirSync(temporary);
      throw new Error('disk full');
    }),
    /disk full/,
  );
  assert.deepEqual(readdirSync(folder), ['new.npy'], 'a failed replacement leaves the folder as it was');
  assert.equal(readdirSync(dir).filter((name) => name.includes('.tmp-')).length, 0);
});

test('sha256 of files and bytes agree with node:crypto', async () => {
  const file = path.join(dir, 'blob');
  const bytes = Buffer.alloc(3 * 1024 * 1024 + 17, 9);
  writeFileSync(file, bytes);
  const expected = createHash('sha256').update(bytes).digest('hex');
  assert.equal(await sha256File(file), expected);
  assert.deepEqual(await sha256FileWithSize(file), { sha256: expected, bytes: bytes.length });
  assert.equal(sha256Hex(bytes), expected);
});

test('formatBytes', () => {
  assert.equal(formatBytes(17), '17 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(150 * 1024 * 1024), '150 MiB');
});

test('processAlive and processStartTime', {
  skip: existsSync('/proc/self/stat') ? false : 'needs /proc',
}, async (t) => {
  assert.equal(processAlive(process.pid), true);
  assert.equal(processAlive(0), false);
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  const own = processStartTime(process.pid)!;
  const theirs = processStartTime(child.pid!)!;
  assert.ok(Number.isInteger(own) && theirs >= own, 'a later process started later');
  assert.equal(processStartTime(2 ** 22 + 1), undefined);
});
