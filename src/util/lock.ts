/**
 * Lock files shared by processes on one machine (the download cache, `edgezoo setup`'s envs):
 * `<path>` created with O_EXCL, holding who holds it. A waiter takes over a lock whose holder is
 * provably gone, and otherwise waits with a timeout, saying whom it waits for.
 *
 * A holder is provably gone when:
 * - its pid is not running, or runs a different process (the pid was reused: the start time in
 *   /proc differs from the one recorded) on this host;
 * - the file stays empty or unreadable for longer than a write takes (a crash between create and
 *   write, or a full disk that let the create through and failed the write).
 * A holder on another host (a shared folder) cannot be checked and is waited for.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EdgezooError } from '../errors.js';
import { processAlive, processStartTime } from './process-info.js';
import { sleepOrAbort } from './sleep.js';

/** What a lock file records about its holder. */
export interface LockHolder {
  pid: number;
  /** Clock ticks since boot when the holder started (/proc/<pid>/stat), where there is /proc. */
  startTime?: number;
  hostname: string;
  /** When the lock was taken (ISO 8601). */
  since: string;
  /** What holds it, for people: `edgezoo setup`, `download of ...`. */
  purpose: string;
  /** Tells this process's own locks from an earlier process's with the same pid. */
  token: string;
}

/** A held lock; `release` is idempotent. */
export interface HeldLock {
  readonly path: string;
  release(): Promise<void>;
}

/** Options of `acquireLock`. */
export interface AcquireLockOptions {
  /** What the lock guards, written into the file and into messages. */
  purpose: string;
  /** Waiting ends with this signal's reason when it aborts. */
  signal?: AbortSignal;
  /** How long to wait for a live holder before LockTimeoutError. Default one hour. */
  timeoutMs?: number;
  /** Told once, when waiting starts, whom it waits for. */
  onWait?: (message: string) => void;
  /** How often to look again. Default 100 ms. */
  pollMs?: number;
  /** How long an empty or unreadable lock file may exist before it is taken as stale. Default 5 s. */
  unreadableGraceMs?: number;
}

/** Waited `timeoutMs` for a lock its holder did not give up. */
export class LockTimeoutError extends EdgezooError {
  readonly holder: LockHolder | undefined;
  constructor(lockPath: string, holder: LockHolder | undefined, waitedMs: number) {
    super(
      'LOCK_TIMEOUT',
      `waited ${Math.round(waitedMs / 1000)} s for ${lockPath}, held by ${describeHolder(holder)}`,
      {
        hint: 'wait for that process to finish, or stop it; a lock whose process has ended is taken over by itself',
      },
    );
    this.holder = holder;
  }
}

const heldTokens = new Set<string>();

/** Takes the lock at `lockPath` (creating its folder), waiting as described in the module comment. */
export async function acquireLock(lockPath: string, options: AcquireLockOptions): Promise<HeldLock> {
  await mkdir(path.dirname(lockPath), { recursive: true });
  const started = Date.now();
  const timeoutMs = options.timeoutMs ?? 60 * 60_000;
  const ownStart = processStartTime(process.pid);
  let told = false;
  for (;;) {
    options.signal?.throwIfAborted();
    const holder: LockHolder = {
      pid: process.pid,
      ...(ownStart === undefined ? {} : { startTime: ownStart }),
      hostname: os.hostname(),
      since: new Date().toISOString(),
      purpose: options.purpose,
      token: `${process.pid}-${randomBytes(8).toString('hex')}`,
    };
    if (await tryCreate(lockPath, holder)) return heldLock(lockPath, holder.token);

    const seen = await readHolder(lockPath);
    if (seen.kind === 'gone') continue;
    if (seen.kind === 'unreadable' ? seen.ageMs > (options.unreadableGraceMs ?? 5000) : holderGone(seen.holder)) {
      await removeIfUnchanged(lockPath, seen.text);
      continue;
    }
    const current = seen.kind === 'held' ? seen.holder : undefined;
    const waited = Date.now() - started;
    if (waited >= timeoutMs) throw new LockTimeoutError(lockPath, current, waited);
    if (!told && seen.kind === 'held') {
      options.onWait?.(`waiting for ${lockPath}, held by ${describeHolder(current)}`);
      told = true;
    }
    await sleepOrAbort(Math.min(options.pollMs ?? 100, Math.max(1, timeoutMs - waited)), options.signal);
  }
}

/** `pid 123 (edgezoo setup) on host h since 2026-...`, or that the file says nothing usable. */
export function describeHolder(holder: LockHolder | undefined): string {
  if (holder === undefined) return 'a process that has not written its name yet';
  return `pid ${holder.pid} (${holder.purpose}) on ${holder.hostname} since ${holder.since}`;
}

async function tryCreate(lockPath: string, holder: LockHolder): Promise<boolean> {
  let handle;
  try {
    handle = await open(lockPath, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(JSON.stringify(holder));
    await handle.close();
  } catch (error) {
    // A full disk: the create went through, the write did not. Leave no empty lock behind.
    await handle.close().catch(() => undefined);
    await rm(lockPath, { force: true });
    throw error;
  }
  heldTokens.add(holder.token);
  return true;
}

function heldLock(lockPath: string, token: string): HeldLock {
  let released = false;
  return {
    path: lockPath,
    release: async () => {
      if (released) return;
      released = true;
      heldTokens.delete(token);
      await removeIfUnchanged(lockPath, undefined, token);
    },
  };
}

type SeenLock =
  | { kind: 'gone' }
  | { kind: 'unreadable'; text: string; ageMs: number }
  | { kind: 'held'; text: string; holder: LockHolder };

async function readHolder(lockPath: string): Promise<SeenLock> {
  let text: string;
  let mtimeMs: number;
  try {
    mtimeMs = (await stat(lockPath)).mtimeMs;
    text = await readFile(lockPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'gone' };
    throw error;
  }
  const holder = parseHolder(text);
  return holder === undefined
    ? { kind: 'unreadable', text, ageMs: Date.now() - mtimeMs }
    : { kind: 'held', text, holder };
}

function parseHolder(text: string): LockHolder | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Partial<LockHolder>;
  if (typeof record.pid !== 'number' || !Number.isInteger(record.pid) || record.pid <= 0) return undefined;
  return {
    pid: record.pid,
    ...(typeof record.startTime === 'number' ? { startTime: record.startTime } : {}),
    // Lock files of older versions hold only {pid, token}: they were written on this host.
    hostname: typeof record.hostname === 'string' ? record.hostname : os.hostname(),
    since: typeof record.since === 'string' ? record.since : 'an unknown time',
    purpose: typeof record.purpose === 'string' ? record.purpose : 'an earlier edgezoo',
    token: typeof record.token === 'string' ? record.token : '',
  };
}

function holderGone(holder: LockHolder): boolean {
  if (holder.hostname !== os.hostname()) return false;
  if (holder.pid === process.pid) return !heldTokens.has(holder.token);
  if (!processAlive(holder.pid)) return true;
  if (holder.startTime === undefined) return false;
  const running = processStartTime(holder.pid);
  return running !== undefined && running !== holder.startTime;
}

/**
 * Removes the lock file only if it is still the one judged (same text) or ours (same token):
 * moving it aside first makes "check, then remove" one step, so a waiter can never delete a lock
 * another waiter has just created in its place.
 */
async function removeIfUnchanged(lockPath: string, judgedText: string | undefined, ownToken?: string): Promise<void> {
  const aside = `${lockPath}.${process.pid}-${randomBytes(4).toString('hex')}.stale`;
  try {
    await rename(lockPath, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const text = await readFile(aside, 'utf8').catch(() => '');
  const same = ownToken === undefined ? text === judgedText : parseHolder(text)?.token === ownToken;
  if (!same) {
    // Someone else's fresh lock: put it back unless yet another lock took the place meanwhile.
    await link(aside, lockPath).catch(() => undefined);
  }
  await rm(aside, { force: true });
}
