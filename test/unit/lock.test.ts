/**
 * The lock-file module (src/util/lock.ts) that the download cache and `edgezoo setup` share:
 * waiting, taking over locks whose holder is provably gone (dead pid, reused pid, empty file),
 * and a timeout whose message names the holder.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { acquireLock, LockTimeoutError } from '../../src/util/lock.js';
import { processStartTime } from '../../src/util/process-info.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function lockPath(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-lock-'));
  dirs.push(dir);
  return path.join(dir, 'x.partial.lock');
}

/** The pid of a process that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

/** A live process that is not an edgezoo and holds no lock; killed after the test. */
function unrelatedProcess(t: { after(fn: () => void): void }): number {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  assert.ok(child.pid);
  return child.pid;
}

const holderRecord = (pid: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    pid,
    hostname: os.hostname(),
    since: '2026-12-01T10:00:00.000Z',
    purpose: 'download of https://example.org/m.onnx',
    token: 'theirs',
    ...extra,
  });

describe('acquireLock', () => {
  it('makes a second holder wait until the first releases, telling it whom it waits for', async () => {
    const file = await lockPath();
    const first = await acquireLock(file, { purpose: 'the first' });
    const order: string[] = [];
    const told: string[] = [];
    const second = acquireLock(file, { purpose: 'the second', pollMs: 10, onWait: (m) => told.push(m) }).then(
      (lock) => {
        order.push('second acquired');
        return lock;
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 80));
    order.push('first releasing');
    await first.release();
    await (await second).release();
    assert.deepEqual(order, ['first releasing', 'second acquired']);
    assert.equal(told.length, 1);
    assert.match(
      told[0]!,
      new RegExp(`^waiting for .*x\\.partial\\.lock, held by pid ${process.pid} \\(the first\\) on `),
    );
    assert.equal(existsSync(file), false);
  });

  it('records pid, process start time, hostname and purpose', async () => {
    const file = await lockPath();
    const lock = await acquireLock(file, { purpose: 'edgezoo setup' });
    const record = JSON.parse(await readFile(file, 'utf8'));
    assert.equal(record.pid, process.pid);
    assert.equal(record.hostname, os.hostname());
    assert.equal(record.purpose, 'edgezoo setup');
    if (existsSync('/proc/self/stat')) assert.equal(record.startTime, processStartTime(process.pid));
    await lock.release();
  });

  it('takes over a lock left by a process that died', async () => {
    const file = await lockPath();
    await writeFile(file, holderRecord(deadPid()));
    const lock = await acquireLock(file, { purpose: 'p', pollMs: 10, timeoutMs: 5000 });
    assert.equal(JSON.parse(await readFile(file, 'utf8')).pid, process.pid);
    await lock.release();
  });

  it('takes over a lock whose pid now belongs to an unrelated live process (start time differs)', {
    skip: existsSync('/proc/self/stat') ? false : 'needs /proc',
  }, async (t) => {
    const file = await lockPath();
    const pid = unrelatedProcess(t);
    await writeFile(file, holderRecord(pid, { startTime: processStartTime(pid)! - 1 }));
    const lock = await acquireLock(file, { purpose: 'p', pollMs: 10, timeoutMs: 5000 });
    assert.equal(JSON.parse(await readFile(file, 'utf8')).pid, process.pid);
    await lock.release();
  });

  it('takes over an empty lock file (a full disk) once it is older than a write takes', async () => {
    const file = await lockPath();
    await writeFile(file, '');
    const old = new Date(Date.now() - 60_000);
    await utimes(file, old, old);
    const started = Date.now();
    const lock = await acquireLock(file, { purpose: 'p', pollMs: 10, timeoutMs: 5000 });
    assert.ok(Date.now() - started < 1000);
    await lock.release();
  });

  it('gives a fresh empty lock file time to be written before taking it over', async () => {
    const file = await lockPath();
    await writeFile(file, '');
    const started = Date.now();
    const lock = await acquireLock(file, { purpose: 'p', pollMs: 10, unreadableGraceMs: 300, timeoutMs: 5000 });
    assert.ok(Date.now() - started >= 250, 'waited for the grace period');
    await lock.release();
  });

  it('times out on a live holder with a message naming it', async (t) => {
    const file = await lockPath();
    // An older edgezoo's lock: a live pid and no start time, so nothing proves it stale.
    const pid = unrelatedProcess(t);
    await writeFile(file, JSON.stringify({ pid, token: 'old-format' }));
    const told: string[] = [];
    await assert.rejects(
      acquireLock(file, { purpose: 'p', pollMs: 10, timeoutMs: 150, onWait: (m) => told.push(m) }),
      (error: unknown) => {
        assert.ok(error instanceof LockTimeoutError);
        assert.equal(error.code, 'LOCK_TIMEOUT');
        assert.match(
          error.message,
          new RegExp(
            `^waited 0 s for .*x\\.partial\\.lock, held by pid ${pid} \\(an earlier edgezoo\\) on ${os.hostname()} since an unknown time$`,
          ),
        );
        return true;
      },
    );
    assert.equal(told.length, 1);
    assert.equal(JSON.parse(await readFile(file, 'utf8')).pid, pid, 'a live holder keeps its lock');
  });

  it('waits for a holder on another host instead of judging its pid', async () => {
    const file = await lockPath();
    await writeFile(file, holderRecord(deadPid(), { hostname: 'another-host' }));
    await assert.rejects(acquireLock(file, { purpose: 'p', pollMs: 10, timeoutMs: 100 }), LockTimeoutError);
  });

  it('stops waiting when the signal aborts', async () => {
    const file = await lockPath();
    const held = await acquireLock(file, { purpose: 'p' });
    await assert.rejects(acquireLock(file, { purpose: 'p', signal: AbortSignal.timeout(50), pollMs: 10 }), {
      name: 'TimeoutError',
    });
    await held.release();
  });

  it('release removes only its own lock', async () => {
    const file = await lockPath();
    const lock = await acquireLock(file, { purpose: 'p' });
    // Someone broke it and took it (should not happen, but must not be undone by our release).
    await writeFile(file, holderRecord(process.pid, { token: 'another' }));
    await lock.release();
    assert.equal(JSON.parse(await readFile(file, 'utf8')).token, 'another');
  });
});
