import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Tokens of the locks this process holds, to tell our own live locks from a dead process's. */
const heldTokens = new Set<string>();

/** A held lock; `release` is idempotent. */
export interface FileLock {
  release(): Promise<void>;
}

/**
 * Takes an exclusive lock next to a file being written: `<target>.lock`, created with O_EXCL and
 * holding `{pid, token}`. Another fetch of the same file (in this process or another) waits until
 * the lock goes away, then sees the finished file. A lock whose process is gone is stale and taken
 * over, so a crash (or kill -9) never wedges the cache. Waiting honours `signal`.
 */
export async function acquireFileLock(target: string, signal?: AbortSignal, pollMs = 100): Promise<FileLock> {
  const lockPath = `${target}.lock`;
  await mkdir(path.dirname(lockPath), { recursive: true });
  const token = `${process.pid}-${randomBytes(8).toString('hex')}`;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const handle = await open(lockPath, 'wx');
      try {
        await handle.writeFile(JSON.stringify({ pid: process.pid, token }));
      } finally {
        await handle.close();
      }
      heldTokens.add(token);
      let released = false;
      return {
        release: async () => {
          if (released) return;
          released = true;
          heldTokens.delete(token);
          await rm(lockPath, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (await isStaleLock(lockPath)) {
      // Removing and retrying O_EXCL keeps this race-safe: if two waiters both see it stale,
      // only one of them wins the next create.
      await rm(lockPath, { force: true });
      continue;
    }
    await sleepOrAbort(pollMs, signal);
  }
}

async function isStaleLock(lockPath: string): Promise<boolean> {
  let owner: { pid?: unknown; token?: unknown };
  try {
    owner = JSON.parse(await readFile(lockPath, 'utf8')) as { pid?: unknown; token?: unknown };
  } catch (_error) {
    // Gone already: not stale, just retry. Empty or half-written: the owner is between create and
    // write, give it time (a lock that stays unreadable would wedge, but writes are one syscall).
    return false;
  }
  if (typeof owner.pid !== 'number') return false;
  if (owner.pid === process.pid) return typeof owner.token === 'string' && !heldTokens.has(owner.token);
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Waits `ms`, or rejects with the signal's own reason when it aborts (timers/promises would
 * reject with a generic AbortError, hiding e.g. a TimeoutError the caller chose).
 */
export async function sleepOrAbort(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : undefined);
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw error;
  }
}
