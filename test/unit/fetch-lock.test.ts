import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { acquireFileLock } from '../../src/fetch/lock.js';

/** The pid of a process that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('acquireFileLock', () => {
  it('makes a second holder wait until the first releases', async () => {
    const target = path.join(await mkdtemp(path.join(os.tmpdir(), 'edgezoo-lock-')), 'x.partial');
    const first = await acquireFileLock(target);
    const order: string[] = [];
    const second = acquireFileLock(target, undefined, 10).then((lock) => {
      order.push('second acquired');
      return lock;
    });
    await new Promise((resolve) => setTimeout(resolve, 80));
    order.push('first releasing');
    await first.release();
    await (await second).release();
    assert.deepEqual(order, ['first releasing', 'second acquired']);
    assert.equal(existsSync(`${target}.lock`), false);
  });

  it('takes over a lock left by a process that died', async () => {
    const target = path.join(await mkdtemp(path.join(os.tmpdir(), 'edgezoo-lock-')), 'x.partial');
    await writeFile(`${target}.lock`, JSON.stringify({ pid: deadPid(), token: 'gone' }));
    const lock = await acquireFileLock(target, undefined, 10);
    assert.equal(JSON.parse(await readFile(`${target}.lock`, 'utf8')).pid, process.pid);
    await lock.release();
  });

  it('stops waiting when the signal aborts', async () => {
    const target = path.join(await mkdtemp(path.join(os.tmpdir(), 'edgezoo-lock-')), 'x.partial');
    const held = await acquireFileLock(target);
    await assert.rejects(acquireFileLock(target, AbortSignal.timeout(50), 10), { name: 'TimeoutError' });
    await held.release();
  });
});
